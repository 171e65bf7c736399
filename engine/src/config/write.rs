//! The canonical writer, in the layout of the Piranha GUI: globals first, then each
//! `virtual` block with its keys indented 5 spaces and its `server` blocks' keys 9 spaces,
//! keys in the GUI's fixed order. Keys the GUI always writes are always written; the others
//! only when they differ from the default (or carry a comment). Comments are written before
//! the key or block they were attached to.

use super::keys::{self, Emit, Key};
use super::model::{Comments, Failover, LvsConfig, RealServer, VirtualServer};
use super::value::{fmt_value, quote};

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
