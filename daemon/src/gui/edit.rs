//! Turning a submitted form into a new lvs.cf, validated by the engine's own parser.
//!
//! A save edits the *text* of the canonical file (`config::format` of the current model): the
//! page's key lines in its block are replaced, removed (empty field: the default) or added, and
//! the result is parsed by `config::parse` — so every value is checked by the same code as
//! lvs.cf itself, and each error is shown next to the field whose line it points at, with the
//! message `piranha check` prints. The parsed model, serial_no incremented, is then written
//! canonically. Deleting and (de)activating blocks edit the model directly.

use std::collections::BTreeMap;

use piranha_engine::config::{self, LvsConfig, Severity};

use super::fields::{is_command, is_invisible, Field, Input, Page, MAX_VALUE_BYTES, NAME};

const VIRTUAL_INDENT: &str = "     ";
const SERVER_INDENT: &str = "         ";

/// What a form asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Save a page's fields. `virtual_name`/`server_name` name the block edited (the original
    /// names, before any rename); `None` adds a new block.
    Save {
        /// The page.
        page: Page,
        /// The virtual server (Virtual, Scripts, Server pages).
        virtual_name: Option<String>,
        /// The real server (Server page).
        server_name: Option<String>,
        /// Field values by key.
        values: BTreeMap<String, String>,
    },
    /// Delete a virtual server.
    DeleteVirtual(String),
    /// Delete a real server of a virtual server.
    DeleteServer(String, String),
    /// Flip a virtual server's `active`.
    ToggleVirtual(String),
    /// Flip a real server's `active`.
    ToggleServer(String, String),
}

/// Why an edit was refused: messages by field key, and the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    /// `error: …` messages for a field, by key.
    pub by_field: BTreeMap<String, Vec<String>>,
    /// Messages not tied to a field of the page.
    pub general: Vec<String>,
}

impl Rejected {
    fn general(msg: impl Into<String>) -> Self {
        Rejected {
            by_field: BTreeMap::new(),
            general: vec![msg.into()],
        }
    }
}

/// Apply `edit` to `current` (the file as parsed now). On success: the new file's text,
/// canonical, with serial_no one more than `current`'s, accepted by `config::parse`.
pub fn apply(current: &LvsConfig, edit: &Edit, file_name: &str) -> Result<String, Rejected> {
    let mut cfg = match edit {
        Edit::Save {
            page,
            virtual_name,
            server_name,
            values,
        } => {
            let (text, tags) = edit_text(
                current,
                *page,
                virtual_name.as_deref(),
                server_name.as_deref(),
                values,
            )?;
            match config::parse(file_name, text.as_bytes()) {
                Ok(p) => p.config,
                Err(diags) => {
                    let mut r = Rejected::default();
                    for d in diags.errors().filter(|d| d.severity == Severity::Error) {
                        let line_tag = d
                            .pos
                            .and_then(|p| tags.get(p.line as usize - 1).copied().flatten());
                        let tag = match line_tag {
                            Some(key) if key != NAME => Some(key),
                            _ => named_field(*page, &d.message, line_tag).or(line_tag),
                        };
                        let msg = format!("error: {}", d.message);
                        match tag {
                            Some(key) => r.by_field.entry(key.to_string()).or_default().push(msg),
                            None => r.general.push(msg),
                        }
                    }
                    return Err(r);
                }
            }
        }
        Edit::DeleteVirtual(v) => {
            let mut cfg = current.clone();
            let i = virtual_index(&cfg, v)?;
            cfg.virtuals.remove(i);
            cfg
        }
        Edit::DeleteServer(v, s) => {
            let mut cfg = current.clone();
            let i = virtual_index(&cfg, v)?;
            let j = server_index(&cfg, i, s)?;
            cfg.virtuals[i].servers.remove(j);
            cfg
        }
        Edit::ToggleVirtual(v) => {
            let mut cfg = current.clone();
            let i = virtual_index(&cfg, v)?;
            cfg.virtuals[i].active = !cfg.virtuals[i].active;
            cfg
        }
        Edit::ToggleServer(v, s) => {
            let mut cfg = current.clone();
            let i = virtual_index(&cfg, v)?;
            let j = server_index(&cfg, i, s)?;
            let srv = &mut cfg.virtuals[i].servers[j];
            srv.active = !srv.active;
            cfg
        }
    };
    cfg.serial_no = current.serial_no.wrapping_add(1);
    let text = config::format(&cfg);
    // The writer's output must read back: check it with the same parser before anyone writes it.
    if let Err(diags) = config::parse(file_name, text.as_bytes()) {
        return Err(Rejected::general(format!(
            "the new file would not be accepted:\n{diags}"
        )));
    }
    Ok(text)
}

/// Refuse a change of a command key ([`super::fields::COMMAND_KEYS`]) unless `allowed`
/// (`--edit-commands`): `current` holds the page's values as the file has them now (empty for
/// a new block), `values` what the form sent.
pub fn check_commands(
    page: Page,
    values: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
    allowed: bool,
) -> Result<(), Rejected> {
    if allowed {
        return Ok(());
    }
    let mut r = Rejected::default();
    for field in page.fields().iter().filter(|f| is_command(f.key)) {
        let new = values.get(field.key).map_or("", |v| v.trim());
        let old = current.get(field.key).map_or("", |v| v.trim());
        if new != old {
            r.by_field
                .entry(field.key.into())
                .or_default()
                .push(format!(
                    "error: {}: read-only here: the daemon runs it as root. Edit lvs.cf by hand, \
                 or start piranha gui with --edit-commands",
                    field.key
                ));
        }
    }
    if r == Rejected::default() {
        Ok(())
    } else {
        Err(r)
    }
}

/// The page field an error not on a field's line is about: a missing key is reported at the
/// block's header (`virtual server `x` has no `address``), a missing global at 1:1. The block
/// name, quoted first in such messages, is skipped.
fn named_field(page: Page, message: &str, line_tag: Option<&str>) -> Option<&'static str> {
    let text = match (line_tag, message.find('`')) {
        (Some(NAME), Some(open)) => match message[open + 1..].find('`') {
            Some(close) => format!("{}{}", &message[..open], &message[open + close + 2..]),
            None => message.to_string(),
        },
        _ => message.to_string(),
    };
    page.fields()
        .iter()
        .filter(|f| f.key != NAME)
        .find(|f| text.contains(&format!("`{}`", f.key)))
        .map(|f| f.key)
}

fn virtual_index(cfg: &LvsConfig, name: &str) -> Result<usize, Rejected> {
    cfg.virtuals
        .iter()
        .position(|v| v.name == name)
        .ok_or_else(|| Rejected::general(format!("no virtual server `{name}` in the file")))
}

fn server_index(cfg: &LvsConfig, vi: usize, name: &str) -> Result<usize, Rejected> {
    cfg.virtuals[vi]
        .servers
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| Rejected::general(format!("no real server `{name}` in the file")))
}

/// Check a block name typed in a form: a plain word, as the GUI writes them.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("error: name: 1 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(format!(
            "error: name: letters, digits, `_`, `.` and `-` only, found `{name}`"
        ));
    }
    Ok(())
}

/// How a field's value is written after `key = `.
fn render(field: &Field, value: &str) -> String {
    match field.input {
        Input::Quoted => quote(value),
        _ => value.to_string(),
    }
}

/// Wrap in `"…"`: escapes typed as in lvs.cf (`\r\n`) are kept, a bare `"` is escaped.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            },
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The form's values for a page, read from the canonical file: a key the file leaves at its
/// default shows empty (checkboxes and choices show the default).
pub fn current_values(
    cfg: &LvsConfig,
    page: Page,
    virtual_name: Option<&str>,
    server_name: Option<&str>,
) -> BTreeMap<String, String> {
    let text = config::format(cfg);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut out = BTreeMap::new();
    let scope = locate(cfg, &lines, page, virtual_name, server_name).ok();
    let mut found = BTreeMap::new();
    if let Some(scope) = &scope {
        for &i in &scope.key_lines {
            if let Some((k, v)) = lines[i].trim_start().split_once(" = ") {
                found.insert(k.to_string(), v.to_string());
            }
        }
    }
    for field in page.fields() {
        let value = if field.key == NAME {
            match page {
                Page::Server => server_name.unwrap_or_default().to_string(),
                _ => virtual_name.unwrap_or_default().to_string(),
            }
        } else {
            match found.get(field.key) {
                Some(v) => match field.input {
                    Input::Quoted if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') => {
                        v[1..v.len() - 1].to_string()
                    }
                    _ => v.clone(),
                },
                None => match field.input {
                    Input::Bool | Input::Choice(_) => {
                        let d = super::fields::key_doc(page.block(), field.key).default;
                        match field.input {
                            Input::Choice(opts) if !opts.contains(&d.as_str()) => String::new(),
                            _ => d,
                        }
                    }
                    _ => String::new(),
                },
            }
        };
        out.insert(field.key.to_string(), value);
    }
    out
}

/// Where a page's keys live in the canonical text.
struct Scope {
    /// The block header line (`virtual x {`), if a block.
    header: Option<usize>,
    /// Lines holding this block's own keys.
    key_lines: Vec<usize>,
    /// Where new keys go.
    insert_at: usize,
}

fn is_code(l: &str) -> bool {
    !l.trim_start().starts_with('#')
}

fn own_key_line(l: &str, indent: &str) -> bool {
    is_code(l)
        && l.starts_with(indent)
        && !l[indent.len()..].starts_with(' ')
        && l.contains(" = ")
        && !l[indent.len()..].starts_with("server ")
}

fn locate(
    cfg: &LvsConfig,
    lines: &[String],
    page: Page,
    virtual_name: Option<&str>,
    server_name: Option<&str>,
) -> Result<Scope, Rejected> {
    let block_start = |from: usize| {
        (from..lines.len())
            .find(|&i| {
                is_code(&lines[i])
                    && (lines[i].starts_with("virtual ") || lines[i].starts_with("failover "))
            })
            .unwrap_or(lines.len())
    };
    if page.block() == "global" {
        let end = block_start(0);
        return Ok(Scope {
            header: None,
            key_lines: (0..end).filter(|&i| own_key_line(&lines[i], "")).collect(),
            insert_at: end,
        });
    }
    let vname = virtual_name.ok_or_else(|| Rejected::general("which virtual server?"))?;
    let vi = virtual_index(cfg, vname)?;
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&i| is_code(&lines[i]) && lines[i].starts_with("virtual "))
        .collect();
    let h = *headers
        .get(vi)
        .ok_or_else(|| Rejected::general("virtual server block not found"))?;
    let end = (h + 1..lines.len())
        .find(|&i| lines[i] == "}")
        .ok_or_else(|| Rejected::general("unterminated virtual block"))?;
    let server_headers: Vec<usize> = (h + 1..end)
        .filter(|&i| is_code(&lines[i]) && lines[i].starts_with("     server "))
        .collect();
    if page == Page::Server {
        let Some(sname) = server_name else {
            return Ok(Scope {
                header: None,
                key_lines: Vec::new(),
                insert_at: end,
            });
        };
        let sj = server_index(cfg, vi, sname)?;
        let sh = *server_headers
            .get(sj)
            .ok_or_else(|| Rejected::general("server block not found"))?;
        let send = (sh + 1..end)
            .find(|&i| lines[i] == "     }")
            .ok_or_else(|| Rejected::general("unterminated server block"))?;
        return Ok(Scope {
            header: Some(sh),
            key_lines: (sh + 1..send)
                .filter(|&i| own_key_line(&lines[i], SERVER_INDENT))
                .collect(),
            insert_at: send,
        });
    }
    Ok(Scope {
        header: Some(h),
        key_lines: (h + 1..end)
            .filter(|&i| own_key_line(&lines[i], VIRTUAL_INDENT))
            .collect(),
        insert_at: server_headers.first().copied().unwrap_or(end),
    })
}

type Tags = Vec<Option<&'static str>>;

/// The edited text, and for each of its lines the field key it came from.
fn edit_text(
    current: &LvsConfig,
    page: Page,
    virtual_name: Option<&str>,
    server_name: Option<&str>,
    values: &BTreeMap<String, String>,
) -> Result<(String, Tags), Rejected> {
    let mut pre = Rejected::default();
    for field in page.fields() {
        let v = values.get(field.key).map(String::as_str).unwrap_or("");
        if v.len() > MAX_VALUE_BYTES {
            pre.by_field
                .entry(field.key.into())
                .or_default()
                .push(format!(
                    "error: {}: too long ({} bytes; at most {MAX_VALUE_BYTES})",
                    field.key,
                    v.len()
                ));
        } else if let Some(c) = v.chars().find(|&c| is_invisible(c)) {
            pre.by_field
                .entry(field.key.into())
                .or_default()
                .push(format!(
                    "error: {}: invisible or text-reordering character U+{:04X} refused \
                     (bidirectional controls, zero-width characters...): type the value plainly",
                    field.key, c as u32
                ));
        } else if v.chars().any(char::is_control) {
            pre.by_field
                .entry(field.key.into())
                .or_default()
                .push(format!(
                    "error: {}: one line of text, without control characters",
                    field.key
                ));
        } else if field.key == NAME {
            if let Err(e) = check_name(v.trim()) {
                pre.by_field.entry(NAME.into()).or_default().push(e);
            }
        } else if let Input::Choice(opts) = field.input {
            if !opts.contains(&v) {
                pre.by_field
                    .entry(field.key.into())
                    .or_default()
                    .push(format!(
                        "error: {}: expected one of {}",
                        field.key,
                        opts.join(" ")
                    ));
            }
        }
    }
    if pre != Rejected::default() {
        return Err(pre);
    }
    let text = config::format(current);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let new_block = match page {
        Page::Virtual => virtual_name.is_none(),
        Page::Server => server_name.is_none(),
        _ => false,
    };
    let indent = match page.block() {
        "global" => "",
        "virtual" => VIRTUAL_INDENT,
        _ => SERVER_INDENT,
    };
    let (scope, new_virtual_at) = if page == Page::Virtual && new_block {
        (None, Some(block_start_failover(&lines)))
    } else {
        (
            Some(locate(current, &lines, page, virtual_name, server_name)?),
            None,
        )
    };
    let existing: BTreeMap<String, usize> = scope
        .iter()
        .flat_map(|s| s.key_lines.iter())
        .filter_map(|&i| {
            let k = lines[i].trim_start().split_once(" = ")?.0;
            Some((k.to_string(), i))
        })
        .collect();
    let mut replace: BTreeMap<usize, Option<(String, &'static str)>> = BTreeMap::new();
    let mut inserts: Vec<(String, Option<&'static str>)> = Vec::new();
    let header_indent = if page == Page::Server {
        VIRTUAL_INDENT
    } else {
        ""
    };
    let keyword = if page == Page::Server {
        "server"
    } else {
        "virtual"
    };
    if let Some(name) = values.get(NAME).filter(|_| page.fields()[0].key == NAME) {
        let line = format!("{header_indent}{keyword} {} {{", name.trim());
        match scope.as_ref().and_then(|s| s.header) {
            Some(h) => {
                replace.insert(h, Some((line, NAME)));
            }
            None => inserts.push((line, Some(NAME))),
        }
    }
    for field in page.fields().iter().filter(|f| f.key != NAME) {
        let v = values.get(field.key).map(|s| s.trim()).unwrap_or("");
        let line = (!v.is_empty()).then(|| {
            (
                format!("{indent}{} = {}", field.key, render(field, v)),
                field.key,
            )
        });
        match existing.get(field.key) {
            Some(&i) => {
                replace.insert(i, line);
            }
            None => {
                if let Some((l, k)) = line {
                    inserts.push((l, Some(k)));
                }
            }
        }
    }
    if new_block {
        inserts.push((format!("{header_indent}}}"), None));
    }
    let insert_at = match (&scope, new_virtual_at) {
        (_, Some(at)) => at,
        (Some(s), None) => s.insert_at,
        (None, None) => lines.len(),
    };
    let mut out: Vec<(String, Option<&'static str>)> = Vec::with_capacity(lines.len() + 32);
    for (i, l) in lines.iter().enumerate() {
        if i == insert_at {
            out.append(&mut inserts);
        }
        match replace.get(&i) {
            Some(Some((nl, k))) => out.push((nl.clone(), Some(*k))),
            Some(None) => {}
            None => out.push((l.clone(), None)),
        }
    }
    out.append(&mut inserts);
    let mut text = String::new();
    let mut tags = Vec::with_capacity(out.len());
    for (l, t) in out {
        text.push_str(&l);
        text.push('\n');
        tags.push(t);
    }
    Ok((text, tags))
}

/// Where a new virtual block goes: before the first `failover` block, else at the end.
fn block_start_failover(lines: &[String]) -> usize {
    (0..lines.len())
        .find(|&i| is_code(&lines[i]) && lines[i].starts_with("failover "))
        .unwrap_or(lines.len())
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
