//! Lines and tokens. lvs.cf is line-based: a line is blank, a comment (`#` after leading
//! blanks), or tokens split on blanks, where `=`, `{` and `}` are tokens of their own (so
//! `key=value` works) and `"…"`/`'…'` quote a token with the escapes `\n \r \t \\ \' \"`.

use super::diagnostics::Pos;

/// One token of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// The text, quotes removed and escapes decoded.
    pub text: String,
    /// Where it starts (the opening quote for quoted tokens).
    pub pos: Pos,
    /// Byte range in the line, quotes included.
    pub span: (usize, usize),
    /// It was quoted.
    pub quoted: bool,
    /// It is a lone `=`, `{` or `}` (not quoted).
    pub punct: bool,
}

/// A problem found while splitting a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LexProblem {
    pub pos: Pos,
    pub error: bool,
    pub message: String,
}

/// A split line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Line {
    /// The tokens, empty for blank and comment lines.
    pub tokens: Vec<Token>,
    /// A whole-line comment, or a trailing `# …` after a complete statement; starts with `#`.
    pub comment: Option<String>,
    /// Problems (an unterminated quote).
    pub problems: Vec<LexProblem>,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\u{b}' || c == '\u{c}'
}

/// Decode the escapes of `s` (`\n \r \t \\ \' \"`). Any other backslash is kept as written,
/// so a regular expression such as `HTTP/1\.[01]` needs no doubling.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.peek() {
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('\\') => '\\',
            Some('\'') => '\'',
            Some('"') => '"',
            _ => {
                out.push('\\');
                continue;
            }
        };
        out.push(decoded);
        chars.next();
    }
    out
}

/// Split one line (already UTF-8, without its line ending) numbered `line_no`.
pub(crate) fn split_line(text: &str, line_no: u32) -> Line {
    let mut line = Line::default();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let col = |i: usize| Pos::new(line_no, u32::try_from(i + 1).unwrap_or(u32::MAX));
    let mut i = 0;
    let mut seen_eq = false;
    let mut seen_value = false;
    while i < chars.len() {
        let (start, c) = chars[i];
        if is_blank(c) {
            i += 1;
            continue;
        }
        // `#` comments the whole line when first, or the rest of it after a complete statement.
        if c == '#' && (line.tokens.is_empty() || seen_value) {
            line.comment = Some(text[start..].trim_end_matches(is_blank).to_string());
            break;
        }
        let structural = !seen_eq && (c == '=' || c == '{' || c == '}');
        if structural {
            line.tokens.push(Token {
                text: c.to_string(),
                pos: col(i),
                span: (start, start + 1),
                quoted: false,
                punct: true,
            });
            seen_eq |= c == '=';
            seen_value |= c == '{' || c == '}';
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            let quote = c;
            let mut j = i + 1;
            let mut closed = None;
            while j < chars.len() {
                match chars[j].1 {
                    '\\' => j += 2,
                    q if q == quote => {
                        closed = Some(j);
                        break;
                    }
                    _ => j += 1,
                }
            }
            let Some(end) = closed else {
                line.problems.push(LexProblem {
                    pos: col(i),
                    error: true,
                    message: format!(
                        "unterminated quote: expected a closing {quote} before the end of the line"
                    ),
                });
                return line;
            };
            let inner_start = start + 1;
            let inner_end = chars[end].0;
            let decoded = unescape(&text[inner_start..inner_end]);
            line.tokens.push(Token {
                text: decoded,
                pos: col(i),
                span: (start, inner_end + 1),
                quoted: true,
                punct: false,
            });
            seen_value |= seen_eq;
            i = end + 1;
            continue;
        }
        // A bare word: up to the next blank (or structural char before any `=`).
        let mut j = i;
        while j < chars.len() {
            let d = chars[j].1;
            if is_blank(d) || (!seen_eq && (d == '=' || d == '{' || d == '}')) {
                break;
            }
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
        let decoded = unescape(&text[start..end]);
        line.tokens.push(Token {
            text: decoded,
            pos: col(i),
            span: (start, end),
            quoted: false,
            punct: false,
        });
        seen_value |= seen_eq;
        i = j;
    }
    line
}

/// The source split into lines: `(line number, text or the column of the first invalid
/// UTF-8 byte)`. `\n` ends a line, a `\r` before it is dropped (CRLF).
pub(crate) fn lines(src: &[u8]) -> impl Iterator<Item = (u32, Result<&str, u32>)> {
    let mut rest = src;
    let mut n: u32 = 0;
    let mut done = false;
    core::iter::from_fn(move || {
        if done {
            return None;
        }
        let (raw, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => {
                done = true;
                (rest, &rest[rest.len()..])
            }
        };
        rest = next;
        if done && raw.is_empty() {
            return None;
        }
        n = n.saturating_add(1);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        Some((
            n,
            core::str::from_utf8(raw).map_err(|e| {
                let good = &raw[..e.valid_up_to()];
                let chars = core::str::from_utf8(good).map_or(0, |s| s.chars().count());
                u32::try_from(chars + 1).unwrap_or(u32::MAX)
            }),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(l: &Line) -> Vec<&str> {
        l.tokens.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn key_value_with_and_without_blanks() {
        assert_eq!(texts(&split_line("port = 80", 1)), ["port", "=", "80"]);
        assert_eq!(texts(&split_line("port=80", 1)), ["port", "=", "80"]);
        let l = split_line("  \taddress = 1.2.3.4 eth0:1", 4);
        assert_eq!(texts(&l), ["address", "=", "1.2.3.4", "eth0:1"]);
        assert_eq!(l.tokens[2].pos, Pos::new(4, 14));
    }

    #[test]
    fn equals_after_the_first_is_text() {
        let l = split_line("send_program = /bin/x --a=b", 1);
        assert_eq!(texts(&l), ["send_program", "=", "/bin/x", "--a=b"]);
    }

    #[test]
    fn quotes_and_escapes() {
        let l = split_line(r#"send = "GET / HTTP/1.0\r\n\r\n""#, 1);
        assert_eq!(texts(&l), ["send", "=", "GET / HTTP/1.0\r\n\r\n"]);
        assert!(l.tokens[2].quoted);
        let l = split_line(r#"expect = 'it\'s \"x\" \\ \t'"#, 1);
        assert_eq!(l.tokens[2].text, "it's \"x\" \\ \t");
        let l = split_line(r#"expect = "a\qb\.""#, 1);
        assert_eq!(l.tokens[2].text, "a\\qb\\.");
        assert!(l.problems.is_empty());
    }

    #[test]
    fn unterminated_quote_points_at_the_quote() {
        let l = split_line("send = \"GET /", 2);
        assert_eq!(l.problems[0].pos, Pos::new(2, 8));
        assert!(l.problems[0].error);
        assert!(l.problems[0].message.contains("unterminated"));
    }

    #[test]
    fn comments() {
        let l = split_line("   # a comment", 1);
        assert!(l.tokens.is_empty());
        assert_eq!(l.comment.as_deref(), Some("# a comment"));
        let l = split_line("port = 80 # web", 1);
        assert_eq!(texts(&l), ["port", "=", "80"]);
        assert_eq!(l.comment.as_deref(), Some("# web"));
        // `#` as a value is a value.
        assert_eq!(texts(&split_line("expect = #", 1)), ["expect", "=", "#"]);
    }

    #[test]
    fn blocks() {
        assert_eq!(
            texts(&split_line("virtual http{", 1)),
            ["virtual", "http", "{"]
        );
        assert_eq!(texts(&split_line("}", 1)), ["}"]);
        let l = split_line("server a { # x", 1);
        assert_eq!(texts(&l), ["server", "a", "{"]);
        assert_eq!(l.comment.as_deref(), Some("# x"));
    }

    #[test]
    fn line_splitting() {
        let src = b"a = 1\r\nb = 2\n\xffc\nlast";
        let v: Vec<_> = lines(src).collect();
        assert_eq!(
            v,
            vec![
                (1, Ok("a = 1")),
                (2, Ok("b = 2")),
                (3, Err(1)),
                (4, Ok("last"))
            ]
        );
        assert_eq!(lines(b"x\n").count(), 1);
        assert_eq!(lines(b"").count(), 0);
        let v: Vec<_> = lines(b"ab\xc3\xa9\xff").collect();
        assert_eq!(v[0].1, Err(4));
        let v: Vec<_> = lines(b"ab\xc3").collect();
        assert_eq!(v[0].1, Err(3));
    }
}
