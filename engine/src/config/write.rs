//! The canonical writer, in the layout of the Piranha GUI: globals first, then each
//! `virtual` block with its keys indented 5 spaces and its `server` blocks' keys 9 spaces,
//! keys in the GUI's fixed order. Keys the GUI always writes are always written; the others
//! only when they differ from the default (or carry a comment). Comments are written before
//! the key or block they were attached to.

use super::keys::{self, Emit, Key};
use super::model::{
    Comments, Failover, LvsConfig, RealServer, VirtualServer, DEFAULT_ARBITER_PORT,
};
use super::value::{Kind, Value};
use crate::time::Duration;

/// Write a duration as lvs.cf seconds: `6`, `0.1`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let (secs, frac) = (d.as_nanos() / 1_000_000_000, d.as_nanos() % 1_000_000_000);
    if frac == 0 {
        secs.to_string()
    } else {
        format!("{secs}.{}", format!("{frac:09}").trim_end_matches('0'))
    }
}

/// Whether a text can be written without quotes and read back unchanged.
fn bare_ok(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['"', '\'', '#'])
        && !s.contains(|c: char| c.is_whitespace() || c.is_control() || c == '\\')
}

/// Write a text in double quotes with escapes. A backslash is doubled only where it would
/// otherwise start an escape (or end the string), so regexes keep their look: `1\.[01]`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => match chars.peek() {
                // Also before a char written as an escape (`\\` then `\n`, never `\` then `\n`).
                Some('n' | 'r' | 't' | '\\' | '\'' | '"' | '\n' | '\r' | '\t') | None => {
                    out.push_str("\\\\")
                }
                Some(_) => out.push('\\'),
            },
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Write a value of `kind` as it appears after `= `.
pub(crate) fn fmt_value(kind: Kind, v: &Value) -> String {
    match v {
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Uint(n) => n.to_string(),
        Value::Duration(d) => fmt_duration(*d),
        Value::Ip(ip) => ip.to_string(),
        Value::Vip(vip) => format!("{} {}", vip.ip, vip.device),
        Value::Word(w) => (*w).to_string(),
        Value::Scheduler(a) => a.as_str().to_string(),
        Value::Flags(f) => f.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(","),
        Value::Socket(s) if s.port() == DEFAULT_ARBITER_PORT => s.ip().to_string(),
        Value::Socket(s) => s.to_string(),
        Value::Text(t) => match kind {
            Kind::Text { quote: false } | Kind::LoadMonitor if bare_ok(t) => t.clone(),
            _ => quote(t),
        },
        Value::Host(name) => name.clone(),
        Value::HostDev(name, device) => format!("{name} {device}"),
        Value::List(items) if items.is_empty() => "[ ]".to_string(),
        Value::List(items) => format!("[ {} ]", items.join(" ")),
    }
}

const VIRTUAL_INDENT: &str = "     ";
const SERVER_INDENT: &str = "         ";

/// The canonical text of a configuration. `parse(format(c))` gives back `c` (comments
/// included), and formatting that again gives the same bytes.
pub fn format(cfg: &LvsConfig) -> String {
    let mut out = String::new();
    comment_lines(&mut out, "", &cfg.comments.header);
    write_keys(
        &mut out,
        "",
        keys::GLOBAL,
        cfg,
        &LvsConfig::default(),
        &cfg.comments,
    );
    for v in &cfg.virtuals {
        write_virtual(&mut out, v);
    }
    for f in &cfg.failovers {
        write_failover(&mut out, f);
    }
    comment_lines(&mut out, "", &cfg.comments.end);
    out
}

fn write_virtual(out: &mut String, v: &VirtualServer) {
    comment_lines(out, "", &v.comments.header);
    out.push_str(&format!("virtual {} {{\n", name(&v.name)));
    write_keys(
        out,
        VIRTUAL_INDENT,
        keys::VIRTUAL,
        v,
        &VirtualServer::new(""),
        &v.comments,
    );
    for s in &v.servers {
        write_server(out, s);
    }
    comment_lines(out, VIRTUAL_INDENT, &v.comments.end);
    out.push_str("}\n");
}

fn write_server(out: &mut String, s: &RealServer) {
    comment_lines(out, VIRTUAL_INDENT, &s.comments.header);
    out.push_str(&format!("{VIRTUAL_INDENT}server {} {{\n", name(&s.name)));
    write_keys(
        out,
        SERVER_INDENT,
        keys::SERVER,
        s,
        &RealServer::new(""),
        &s.comments,
    );
    comment_lines(out, SERVER_INDENT, &s.comments.end);
    out.push_str(&format!("{VIRTUAL_INDENT}}}\n"));
}

fn write_failover(out: &mut String, f: &Failover) {
    comment_lines(out, "", &f.comments.header);
    out.push_str(&format!("failover {} {{\n", name(&f.name)));
    write_keys(
        out,
        VIRTUAL_INDENT,
        keys::FAILOVER,
        f,
        &Failover::new(""),
        &f.comments,
    );
    // The virtual keys the block also carried, in the virtual block's order.
    for key in keys::VIRTUAL {
        if let Some(value) = f.extra.get(key.name) {
            if let Some(notes) = f.comments.keys.get(key.name) {
                comment_lines(out, VIRTUAL_INDENT, notes);
            }
            out.push_str(&format!("{VIRTUAL_INDENT}{} = {value}\n", key.name));
        }
    }
    for s in &f.servers {
        write_server(out, s);
    }
    comment_lines(out, VIRTUAL_INDENT, &f.comments.end);
    out.push_str("}\n");
}

fn write_keys<T>(
    out: &mut String,
    indent: &str,
    table: &[Key<T>],
    item: &T,
    default: &T,
    comments: &Comments,
) {
    for key in table {
        let Some(value) = (key.get)(item) else {
            continue;
        };
        let notes = comments.keys.get(key.name).filter(|c| !c.is_empty());
        let changed = (key.get)(default).as_ref() != Some(&value);
        if key.emit == Emit::Always || changed || notes.is_some() {
            if let Some(notes) = notes {
                comment_lines(out, indent, notes);
            }
            out.push_str(&format!(
                "{indent}{} = {}\n",
                key.name,
                fmt_value(key.kind, &value)
            ));
        }
    }
}

fn comment_lines(out: &mut String, indent: &str, lines: &[String]) {
    for l in lines.iter().flat_map(|l| l.lines()) {
        let l = l.trim();
        if l.starts_with('#') {
            out.push_str(&format!("{indent}{l}\n"));
        } else {
            out.push_str(format!("{indent}# {l}").trim_end());
            out.push('\n');
        }
    }
}

/// A block name, quoted when it would not read back as one bare token.
fn name(n: &str) -> String {
    let bare = !n.is_empty()
        && !n.starts_with(['"', '\'', '#'])
        && !n.contains(|c: char| c.is_whitespace() || c.is_control() || "\\{}=".contains(c));
    if bare {
        n.to_string()
    } else {
        quote(n)
    }
}
