//! The parser: lines → statements and blocks → the model, collecting every problem.

use std::collections::BTreeMap;

use super::diagnostics::{did_you_mean, Diagnostic, Pos};
use super::keys::{self, Key};
use super::lex::{self, Line, Token};
use super::model::{Comments, Failover, LvsConfig, RealServer, VirtualServer};
use super::target::{Pick, Target};
use super::validate::Place;
use super::value::{parse_value, Kind};
use super::write::fmt_value;

/// At most this many diagnostics are collected; then one more says so and parsing goes on
/// silently (bounded output on garbage input).
pub(crate) const MAX_DIAGNOSTICS: usize = 200;

/// Where each key and block of a parsed file was: for validation messages.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spans {
    pub global: BTreeMap<&'static str, KeySpan>,
    pub virtuals: Vec<BlockSpan>,
    pub failovers: Vec<BlockSpan>,
    /// Statements that were rejected: validation stays quiet about these keys.
    pub rejected: Vec<Place>,
}

/// The key token and the first value token of one statement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeySpan {
    pub key: Pos,
    pub value: Pos,
}

/// A block's header (its name token) and its keys.
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockSpan {
    pub header: Pos,
    pub keys: BTreeMap<&'static str, KeySpan>,
    pub servers: Vec<BlockSpan>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Virtual(usize),
    Server(usize, usize),
    Failover(usize),
    /// A `server` block inside a `failover` block.
    FailoverServer(usize, usize),
    /// A block in the wrong place: its content is skipped.
    Skip,
}

#[derive(Clone, Debug)]
struct Frame {
    open: Open,
    what: String,
    pos: Pos,
}

struct Parser<'a> {
    file: &'a str,
    diags: Vec<Diagnostic>,
    cfg: LvsConfig,
    spans: Spans,
    stack: Vec<Frame>,
    pending: Vec<String>,
    started: bool,
}

/// Parse `src` (any bytes) into a model, the spans, and every problem found (unsorted).
pub(crate) fn parse_source(file: &str, src: &[u8]) -> (LvsConfig, Spans, Vec<Diagnostic>) {
    let mut p = Parser {
        file,
        diags: Vec::new(),
        cfg: LvsConfig::default(),
        spans: Spans::default(),
        stack: Vec::new(),
        pending: Vec::new(),
        started: false,
    };
    let mut last_line = 0;
    for (n, text) in lex::lines(src) {
        last_line = n;
        match text {
            Ok(text) => p.line(n, text),
            Err(col) => p.error(
                Pos::new(n, col),
                "invalid UTF-8: lvs.cf must be text (ASCII or UTF-8); this line is skipped",
            ),
        }
    }
    let eof = Pos::new(last_line.saturating_add(1), 1);
    while let Some(frame) = p.stack.pop() {
        // The original closed every open block at the end of the file, silently.
        let msg = format!(
            "`{}` opened at {}:{} is not closed with `}}`: it ends with the file (as in the original)",
            frame.what, file, frame.pos
        );
        if frame.open == Open::Skip {
            p.error(eof, msg);
        } else {
            p.warning(eof, msg);
        }
    }
    p.cfg.comments.end.append(&mut p.pending);
    (p.cfg, p.spans, p.diags)
}

impl Parser<'_> {
    fn push(&mut self, d: Diagnostic) {
        if self.diags.len() < MAX_DIAGNOSTICS {
            self.diags.push(d);
        } else if self.diags.len() == MAX_DIAGNOSTICS {
            let more = Diagnostic::error(
                self.file,
                d.pos.unwrap_or(Pos::START),
                "too many problems: stopping here",
            );
            self.diags.push(more);
        }
    }
    fn error(&mut self, pos: Pos, msg: impl Into<String>) {
        self.push(Diagnostic::error(self.file, pos, msg));
    }
    fn warning(&mut self, pos: Pos, msg: impl Into<String>) {
        self.push(Diagnostic::warning(self.file, pos, msg));
    }

    fn line(&mut self, n: u32, text: &str) {
        let line = lex::split_line(text, n);
        for prob in &line.problems {
            if prob.error {
                self.error(prob.pos, prob.message.clone());
            } else {
                self.warning(prob.pos, prob.message.clone());
            }
        }
        if line.problems.iter().any(|p| p.error) {
            return;
        }
        let Some(first) = line.tokens.first() else {
            if let Some(c) = &line.comment {
                self.pending.push(c.clone());
            }
            return;
        };
        let is_header = !first.quoted
            && matches!(first.text.as_str(), "virtual" | "server" | "failover")
            && !line.tokens.get(1).is_some_and(|t| t.punct && t.text == "=");
        if !self.started {
            // Comments before the first statement are the file's header.
            self.started = true;
            self.cfg.comments.header.append(&mut self.pending);
        }
        if first.punct && first.text == "}" {
            self.close(&line);
        } else if is_header {
            self.header(&line);
        } else {
            self.statement(&line, text);
        }
    }

    fn take_comments(&mut self, line: &Line) -> Vec<String> {
        let mut c = core::mem::take(&mut self.pending);
        c.extend(line.comment.clone());
        c
    }

    fn close(&mut self, line: &Line) {
        let tok = &line.tokens[0];
        if let Some(extra) = line.tokens.get(1) {
            self.error(
                extra.pos,
                format!(
                    "unexpected `{}` after `}}`: expected the end of the line",
                    extra.text
                ),
            );
        }
        let Some(frame) = self.stack.pop() else {
            self.error(tok.pos, "unexpected `}`: no block is open here");
            return;
        };
        let comments = self.take_comments(line);
        if let Some(c) = self.comments_of(frame.open) {
            c.end.extend(comments);
        }
    }

    fn comments_of(&mut self, open: Open) -> Option<&mut Comments> {
        Some(match open {
            Open::Virtual(v) => &mut self.cfg.virtuals.get_mut(v)?.comments,
            Open::Server(v, s) => &mut self.cfg.virtuals.get_mut(v)?.servers.get_mut(s)?.comments,
            Open::Failover(f) => &mut self.cfg.failovers.get_mut(f)?.comments,
            Open::FailoverServer(f, s) => {
                &mut self.cfg.failovers.get_mut(f)?.servers.get_mut(s)?.comments
            }
            Open::Skip => return None,
        })
    }

    /// Close every open block that may not contain a `kind` block, reporting each.
    fn unwind_for(&mut self, kind: &str, at: Pos) {
        while let Some(top) = self.stack.last() {
            let fits = matches!(
                (kind, top.open),
                ("server", Open::Virtual(_) | Open::Failover(_))
            );
            if fits || top.open == Open::Skip {
                break;
            }
            let frame = self.stack.pop().unwrap_or_else(|| unreachable!());
            let msg = format!(
                "expected `}}` to close `{}` opened at {}:{} before this `{kind}`",
                frame.what, self.file, frame.pos
            );
            self.error(at, msg);
        }
    }

    fn header(&mut self, line: &Line) {
        let kw = &line.tokens[0];
        let kind = kw.text.as_str();
        let name = line.tokens.get(1).filter(|t| !t.punct);
        let brace = line
            .tokens
            .get(2)
            .or_else(|| line.tokens.get(1).filter(|t| t.punct));
        let Some(name) = name else {
            let at = line.tokens.get(1).map_or(end_of(kw), |t| t.pos);
            self.error(
                at,
                format!("expected a name after `{kind}`, e.g. `{kind} web {{`"),
            );
            if brace.is_some_and(|b| b.punct && b.text == "{") {
                self.stack.push(Frame {
                    open: Open::Skip,
                    what: kind.to_string(),
                    pos: kw.pos,
                });
            }
            return;
        };
        match brace {
            Some(b) if b.punct && b.text == "{" => {
                if let Some(extra) = line.tokens.get(3) {
                    self.error(
                        extra.pos,
                        format!(
                            "unexpected `{}` after `{{`: expected the end of the line",
                            extra.text
                        ),
                    );
                }
            }
            Some(b) => {
                self.error(
                    b.pos,
                    format!(
                        "expected `{{` after `{kind} {}`, found `{}` (names cannot contain blanks)",
                        name.text, b.text
                    ),
                );
            }
            None => self.error(
                end_of(name),
                format!("expected `{{` after `{kind} {}`", name.text),
            ),
        }
        let what = format!("{kind} {}", name.text);
        let comments = self.take_comments(line);
        // A block inside a skipped block is skipped too.
        if self.stack.last().is_some_and(|f| f.open == Open::Skip) {
            self.stack.push(Frame {
                open: Open::Skip,
                what,
                pos: kw.pos,
            });
            return;
        }
        self.unwind_for(kind, kw.pos);
        let open = match kind {
            "virtual" => {
                if let Some(i) = self.cfg.virtuals.iter().position(|v| v.name == name.text) {
                    let first = self.spans.virtuals[i].header;
                    self.error(
                        name.pos,
                        format!(
                            "duplicate virtual server name `{}`: first defined at {}:{first}",
                            name.text, self.file
                        ),
                    );
                }
                let mut v = VirtualServer::new(name.text.clone());
                v.comments.header = comments;
                self.cfg.virtuals.push(v);
                self.spans.virtuals.push(BlockSpan {
                    header: name.pos,
                    ..BlockSpan::default()
                });
                Open::Virtual(self.cfg.virtuals.len() - 1)
            }
            "failover" => {
                if let Some(i) = self.cfg.failovers.iter().position(|v| v.name == name.text) {
                    let first = self.spans.failovers[i].header;
                    self.error(
                        name.pos,
                        format!(
                            "duplicate failover name `{}`: first defined at {}:{first}",
                            name.text, self.file
                        ),
                    );
                }
                let mut f = Failover::new(name.text.clone());
                f.comments.header = comments;
                self.cfg.failovers.push(f);
                self.spans.failovers.push(BlockSpan {
                    header: name.pos,
                    ..BlockSpan::default()
                });
                Open::Failover(self.cfg.failovers.len() - 1)
            }
            _ => match self.stack.last().map(|f| f.open) {
                Some(Open::Virtual(v)) => {
                    let vs = &mut self.cfg.virtuals[v];
                    if let Some(i) = vs.servers.iter().position(|s| s.name == name.text) {
                        let first = self.spans.virtuals[v].servers[i].header;
                        let msg = format!(
                            "duplicate real server name `{}` in `virtual {}`: first defined at {}:{first}",
                            name.text, vs.name, self.file
                        );
                        self.error(name.pos, msg);
                    }
                    let vs = &mut self.cfg.virtuals[v];
                    let mut s = RealServer::new(name.text.clone());
                    s.comments.header = comments;
                    vs.servers.push(s);
                    self.spans.virtuals[v].servers.push(BlockSpan {
                        header: name.pos,
                        ..BlockSpan::default()
                    });
                    Open::Server(v, vs.servers.len() - 1)
                }
                Some(Open::Failover(f)) => {
                    let fo = &mut self.cfg.failovers[f];
                    let mut s = RealServer::new(name.text.clone());
                    s.comments.header = comments;
                    fo.servers.push(s);
                    let index = fo.servers.len() - 1;
                    self.spans.failovers[f].servers.push(BlockSpan {
                        header: name.pos,
                        ..BlockSpan::default()
                    });
                    self.warning(kw.pos, "a `server` block has no effect in a `failover` block (kept when the file is rewritten; the original read it there too)");
                    Open::FailoverServer(f, index)
                }
                _ => {
                    self.error(kw.pos, "`server` outside a `virtual` block: a real server belongs inside `virtual NAME { }`");
                    Open::Skip
                }
            },
        };
        self.stack.push(Frame {
            open,
            what,
            pos: kw.pos,
        });
    }

    fn statement(&mut self, line: &Line, text: &str) {
        let top = self.stack.last().map(|f| f.open);
        let toks = &line.tokens;
        let key = &toks[0];
        if key.punct {
            self.error(key.pos, format!("expected a key before `{}`", key.text));
            return;
        }
        match top {
            Some(Open::Skip) => {}
            None => self.apply(keys::GLOBAL, Target::Global, line, text),
            Some(Open::Virtual(v)) => self.apply(keys::VIRTUAL, Target::Virtual(v), line, text),
            Some(Open::Server(v, s)) => self.apply(keys::SERVER, Target::Server(v, s), line, text),
            Some(Open::FailoverServer(f, s)) => {
                self.apply(keys::SERVER, Target::FailoverServer(f, s), line, text)
            }
            Some(Open::Failover(f))
                if keys::find(keys::FAILOVER, &key.text).is_none()
                    && keys::find(keys::VIRTUAL, &key.text).is_some() =>
            {
                self.failover_extra(f, line, text);
            }
            Some(Open::Failover(f)) => self.apply(keys::FAILOVER, Target::Failover(f), line, text),
        }
    }

    fn apply<T: Pick>(
        &mut self,
        table: &'static [Key<T>],
        target: Target,
        line: &Line,
        text: &str,
    ) {
        let toks = &line.tokens;
        let key_tok = &toks[0];
        let Some(key) = keys::find(table, &key_tok.text) else {
            let (msg, meant) = unknown_key(&key_tok.text, target.scope_name(), table);
            self.error(key_tok.pos, msg);
            if let Some(meant) = meant {
                // A misspelt `adress` is not also a missing `address`.
                self.spans.rejected.push(target.place(meant));
            }
            return;
        };
        let eq = match toks.get(1) {
            Some(t) if t.punct && t.text == "=" => t,
            Some(t) => {
                self.error(
                    t.pos,
                    format!("expected `=` after `{}`, found `{}`", key.name, t.text),
                );
                return;
            }
            None => {
                self.error(
                    end_of(key_tok),
                    format!("expected `= VALUE` after `{}`", key.name),
                );
                return;
            }
        };
        let values = &toks[2..];
        // `key =` with nothing after it: the GUI may leave a field empty. Lenient, but said.
        let value = if values.is_empty() {
            let what = if key.default == "-" {
                "stays unset".to_string()
            } else {
                format!("keeps its default ({})", key.default)
            };
            let msg = format!("`{}` has no value: it {what}", key.name);
            self.warning(end_of(eq), msg);
            None
        } else {
            match parse_value(key.kind, values, text) {
                Ok(v) => Some(v),
                Err((i, msg)) => {
                    let at = values.get(i).map_or(values[0].pos, |t| t.pos);
                    self.error(at, format!("{}: {msg}", key.name));
                    self.spans.rejected.push(target.place(key.name));
                    return;
                }
            }
        };
        let span = KeySpan {
            key: key_tok.pos,
            value: values.first().map_or(end_of(eq), |t| t.pos),
        };
        let file = self.file;
        let comments = self.take_comments(line);
        let Some((spans, target)) = target.resolve::<T>(&mut self.cfg, &mut self.spans) else {
            return;
        };
        let again = spans.insert(key.name, span);
        if let Some(value) = value {
            (key.set)(target, value);
        }
        if !comments.is_empty() {
            T::comments(target)
                .keys
                .entry(key.name.to_string())
                .or_default()
                .extend(comments);
        }
        if let Some(first) = again {
            let msg = format!(
                "`{}` is set again: this value replaces the one at {file}:{} (the last one wins, as in the original)",
                key.name, first.key
            );
            self.warning(key_tok.pos, msg);
        }
        if let (Kind::Flag, Some(v)) = (key.kind, values.first()) {
            if values.len() == 1 && v.text != "0" && v.text != "1" {
                let msg = format!(
                    "`{} = {}` is taken as 1 (on): any non-zero number is, as in the original",
                    key.name, v.text
                );
                self.warning(v.pos, msg);
            }
        }
        if let Some(why) = key.unsupported {
            let msg = format!(
                "`{}` is accepted and kept when the file is rewritten, but {why}",
                key.name
            );
            self.warning(key_tok.pos, msg);
        }
        if key.ignored {
            let msg = format!(
                "`{}` is ignored, as by the original Piranha (kept when the file is rewritten)",
                key.name
            );
            self.warning(key_tok.pos, msg);
        }
    }
}

impl Parser<'_> {
    /// A `virtual` key in a `failover` block: the original read every virtual key there.
    /// Checked as in a virtual block, kept (canonical text) and unused.
    fn failover_extra(&mut self, f: usize, line: &Line, text: &str) {
        let toks = &line.tokens;
        let key_tok = &toks[0];
        let Some(key) = keys::find(keys::VIRTUAL, &key_tok.text) else {
            return;
        };
        let place = Target::Failover(f).place(key.name);
        let Some(eq) = toks.get(1).filter(|t| t.punct && t.text == "=") else {
            let at = toks.get(1).map_or(end_of(key_tok), |t| t.pos);
            self.error(at, format!("expected `= VALUE` after `{}`", key.name));
            return;
        };
        let values = &toks[2..];
        if values.is_empty() {
            self.warning(
                end_of(eq),
                format!("`{}` has no value: it stays unset", key.name),
            );
            return;
        }
        let value = match parse_value(key.kind, values, text) {
            Ok(v) => v,
            Err((i, msg)) => {
                let at = values.get(i).map_or(values[0].pos, |t| t.pos);
                self.error(at, format!("{}: {msg}", key.name));
                self.spans.rejected.push(place);
                return;
            }
        };
        let span = KeySpan {
            key: key_tok.pos,
            value: values[0].pos,
        };
        let comments = self.take_comments(line);
        let file = self.file;
        let (Some(block), Some(fo)) = (
            self.spans.failovers.get_mut(f),
            self.cfg.failovers.get_mut(f),
        ) else {
            return;
        };
        let again = block.keys.insert(key.name, span);
        fo.extra
            .insert(key.name.to_string(), fmt_value(key.kind, &value));
        if !comments.is_empty() {
            fo.comments
                .keys
                .entry(key.name.to_string())
                .or_default()
                .extend(comments);
        }
        if let Some(first) = again {
            let msg = format!(
                "`{}` is set again: this value replaces the one at {file}:{} (the last one wins, as in the original)",
                key.name, first.key
            );
            self.warning(key_tok.pos, msg);
        }
        let msg = format!(
            "`{}` has no effect in a `failover` block (kept when the file is rewritten; the original read it there too)",
            key.name
        );
        self.warning(key_tok.pos, msg);
    }
}

/// The position just after a token.
fn end_of(t: &Token) -> Pos {
    let len = u32::try_from(t.span.1 - t.span.0).unwrap_or(0);
    Pos::new(t.pos.line, t.pos.col.saturating_add(len.max(1)))
}

/// "unknown key" with the block the key belongs to, or the closest key of this block.
fn unknown_key<T>(
    name: &str,
    scope: &str,
    table: &'static [Key<T>],
) -> (String, Option<&'static str>) {
    let homes: [(&str, bool, &str); 4] = [
        (
            "global",
            keys::find(keys::GLOBAL, name).is_some(),
            "at the top level, outside any block",
        ),
        (
            "virtual",
            keys::find(keys::VIRTUAL, name).is_some(),
            "inside `virtual NAME { }`",
        ),
        (
            "server",
            keys::find(keys::SERVER, name).is_some(),
            "inside `server NAME { }`",
        ),
        (
            "failover",
            keys::find(keys::FAILOVER, name).is_some(),
            "inside `failover NAME { }`",
        ),
    ];
    if let Some((home, _, place)) = homes.iter().find(|(h, found, _)| *found && *h != scope) {
        let msg = format!("`{name}` is not a {scope} key: it is a {home} key and goes {place}");
        return (msg, None);
    }
    let what = if scope == "global" {
        "global key".to_string()
    } else {
        format!("key in a `{scope}` block")
    };
    match did_you_mean(name, table.iter().map(|k| k.name)) {
        Some(s) => (
            format!("unknown {what} `{name}`: did you mean `{s}`?"),
            Some(s),
        ),
        None => (format!("unknown {what} `{name}`"), None),
    }
}
