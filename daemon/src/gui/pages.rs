//! The HTML, with maud: every interpolated value is escaped. No inline script or style (the
//! Content-Security-Policy forbids them); the one script is /static/app.js.

use std::collections::BTreeMap;

use maud::{html, Markup, DOCTYPE};
use piranha_engine::config::LvsConfig;

use super::edit::Rejected;
use super::fields::{is_command, key_doc, Input, Page, MAX_VALUE_BYTES, NAME};
use crate::control::StatusReport;

/// The tabs, as the original's.
const TABS: &[(&str, &str)] = &[
    ("/", "CONTROL/MONITORING"),
    ("/global", "GLOBAL SETTINGS"),
    ("/redundancy", "REDUNDANCY"),
    ("/virtual", "VIRTUAL SERVERS"),
];

/// Percent-encode a query value.
pub fn q(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A whole page. `csrf` is `None` on the login page.
pub fn layout(
    title: &str,
    tab: &str,
    csrf: Option<&str>,
    flash: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Piranha — " (title) }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body {
                header {
                    h1 { "PIRANHA CONFIGURATION TOOL" }
                    @if let Some(csrf) = csrf {
                        nav {
                            @for (href, name) in TABS {
                                a href=(href) class=@if *href == tab { "tab current" } @else { "tab" } { (name) }
                            }
                            form method="post" action="/logout" class="logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main {
                    @if let Some(flash) = flash { p class="flash" id="flash" { (flash) } }
                    (body)
                }
            }
        }
    }
}

/// The login form.
pub fn login(error: Option<&str>) -> Markup {
    layout(
        "login",
        "",
        None,
        None,
        html! {
            form method="post" action="/login" class="login" {
                h2 { "Log in" }
                @if let Some(e) = error { p class="error" { (e) } }
                label { "User name " input type="text" name="username" value="piranha" autocomplete="username"; }
                label { "Password " input type="password" name="password" autocomplete="current-password" autofocus; }
                button type="submit" id="login" { "Log in" }
            }
        },
    )
}

/// A page that only says something, with a link onwards.
pub fn message(csrf: &str, title: &str, lines: &[String], back: &str) -> Markup {
    layout(
        title,
        "",
        Some(csrf),
        None,
        html! {
            h2 { (title) }
            @for l in lines { pre class="error" { (l) } }
            p { a href=(back) { "Back" } }
        },
    )
}

/// The live part of CONTROL/MONITORING (fetched again every few seconds by app.js).
pub fn status_fragment(csrf: &str, status: &Result<StatusReport, String>) -> Markup {
    html! {
        @match status {
            Err(e) => {
                p class="warning" id="daemon-down" { "The daemon is not running or does not answer: " (e) }
                p { "You can still edit lvs.cf; start the daemon (piranha pulse) to apply it." }
            }
            Ok(s) => {
                table class="kv" {
                    tr { th { "Role" } td { (s.role) @if s.active { " (active)" } @else { " (standby)" } } }
                    tr { th { "Partner" } td { (s.peer) } }
                    tr { th { "Configuration" } td { (s.config_file) ", serial_no " (s.serial_no) } }
                    tr { th { "Up for" } td { (format!("{:.0}", s.uptime_s)) " s" } }
                    tr { th { "Heartbeats" } td { (s.heartbeats_accepted) " accepted, " (s.heartbeats_rejected) " rejected" } }
                    @if let Some(c) = &s.last_change {
                        tr { th { "Last change" } td { (c.why) " at " (format!("{:.0}", c.at_s)) " s" } }
                    }
                }
                form method="post" action="/control" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="op" value="reload";
                    button type="submit" { "Reload the daemon (re-read lvs.cf)" }
                }
                @for v in &s.virtuals {
                    h3 { (v.name) " — " (v.service) @if !v.active { " (inactive)" } }
                    table class="grid" {
                        tr { th { "Real server" } th { "Address" } th { "Health" } th { "Weight" } th { "Active conns" } th { "Inactive conns" } th {} }
                        @for r in &v.servers {
                            tr {
                                td { (r.name) } td { (r.address) }
                                td class=(format!("health-{}", if r.health.chars().all(|c| c.is_ascii_alphanumeric()) { r.health.as_str() } else { "other" })) {
                                    (r.health) @if r.drained { " (drained)" } @if !r.in_table { " (not in table)" }
                                }
                                td { (r.weight) } td { (r.active_conns) } td { (r.inactive_conns) }
                                td {
                                    form method="post" action="/control" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="vs" value=(v.name);
                                        input type="hidden" name="rs" value=(r.name);
                                        @if r.drained {
                                            input type="hidden" name="op" value="enable";
                                            button type="submit" { "Enable" }
                                        } @else {
                                            input type="hidden" name="op" value="drain";
                                            button type="submit" { "Drain" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// CONTROL/MONITORING.
pub fn control(
    csrf: &str,
    flash: Option<&str>,
    file: &str,
    summary: &str,
    status: &Result<StatusReport, String>,
) -> Markup {
    layout(
        "control",
        "/",
        Some(csrf),
        flash,
        html! {
            h2 { "CONTROL / MONITORING" }
            p { "lvs.cf: " code { (file) } " — " (summary) }
            div id="status" data-src="/status" { (status_fragment(csrf, status)) }
        },
    )
}

/// Hidden identity of an edit form.
pub struct FormIds<'a> {
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// Hash of the file the form was made from.
    pub base: &'a str,
    /// The virtual server edited, if any.
    pub virtual_name: Option<&'a str>,
    /// The real server edited, if any.
    pub server_name: Option<&'a str>,
}

fn hidden_ids(ids: &FormIds<'_>, page: &str, op: &str) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(ids.csrf);
        input type="hidden" name="base" value=(ids.base);
        input type="hidden" name="page" value=(page);
        input type="hidden" name="op" value=(op);
        @if let Some(v) = ids.virtual_name { input type="hidden" name="vs" value=(v); }
        @if let Some(s) = ids.server_name { input type="hidden" name="rs" value=(s); }
    }
}

/// The fields of a page as a form posting to /edit (a preview comes first).
pub fn edit_form(
    page: Page,
    ids: &FormIds<'_>,
    values: &BTreeMap<String, String>,
    rejected: Option<&Rejected>,
    commands_editable: bool,
) -> Markup {
    html! {
        form method="post" action="/edit" class="edit" id=(format!("form-{}", page.as_str())) {
            (hidden_ids(ids, page.as_str(), "save"))
            @if let Some(r) = rejected {
                @if !r.general.is_empty() || !r.by_field.is_empty() {
                    div class="error" id="errors" {
                        p { "Not saved: lvs.cf would not be accepted. Nothing was written." }
                        @for m in &r.general { pre { (m) } }
                    }
                }
            }
            table class="kv" {
                @for field in page.fields() {
                    @let value = values.get(field.key).map(String::as_str).unwrap_or("");
                    @let doc = if field.key == NAME { Default::default() } else { key_doc(page.block(), field.key) };
                    @let errors = rejected.and_then(|r| r.by_field.get(field.key));
                    tr class=@if errors.is_some() { "invalid" } {
                        th { label for=(format!("f-{}", field.key)) { (field.label) } }
                        td {
                            @match field.input {
                                Input::Bool => {
                                    input type="checkbox" id=(format!("f-{}", field.key)) name=(field.key) value="1" checked[value == "1"];
                                }
                                Input::Choice(opts) => {
                                    select id=(format!("f-{}", field.key)) name=(field.key) {
                                        @for o in opts {
                                            option value=(o) selected[*o == value] { @if o.is_empty() { "(default)" } @else { (o) } }
                                        }
                                    }
                                }
                                _ => {
                                    @let locked = is_command(field.key) && !commands_editable;
                                    input type="text" id=(format!("f-{}", field.key)) name=(field.key) value=(value)
                                        maxlength=(MAX_VALUE_BYTES) readonly[locked]
                                        placeholder=(if doc.default.is_empty() || doc.default == "none" { String::new() } else { format!("default: {}", doc.default) });
                                    @if locked {
                                        span class="locked" { "read-only: run as root by the daemon (start piranha gui with --edit-commands to change it)" }
                                    }
                                }
                            }
                            @if let Some(errs) = errors {
                                @for e in errs { span class="field-error" { (e) } }
                            }
                        }
                        td class="doc" {
                            @if field.key == NAME { "the block name: letters, digits, _ . -" }
                            @else { (field.key) ": " (doc.doc) }
                        }
                    }
                }
            }
            button type="submit" id="preview" { "Preview the change" }
        }
    }
}

/// A small POST button that starts an edit (delete, (de)activate): it goes to the preview.
pub fn action_button(ids: &FormIds<'_>, op: &str, label: &str) -> Markup {
    html! {
        form method="post" action="/edit" class="inline" {
            (hidden_ids(ids, "", op))
            button type="submit" { (label) }
        }
    }
}

/// VIRTUAL SERVERS: the list.
pub fn virtual_list(csrf: &str, base: &str, flash: Option<&str>, cfg: &LvsConfig) -> Markup {
    layout(
        "virtual servers",
        "/virtual",
        Some(csrf),
        flash,
        html! {
            h2 { "VIRTUAL SERVERS" }
            table class="grid" id="virtuals" {
                tr { th { "Status" } th { "Name" } th { "VIP" } th { "Port" } th { "Protocol" } th { "Real servers" } th {} }
                @for v in &cfg.virtuals {
                    @let ids = FormIds { csrf, base, virtual_name: Some(&v.name), server_name: None };
                    tr {
                        td { @if v.active { "up" } @else { "down" } }
                        td { a href=(format!("/virtual/edit?vs={}", q(&v.name))) { (v.name) } }
                        td { @if let Some(a) = &v.address { (a.ip) " " (a.device) } }
                        td { (v.port) } td { (format!("{:?}", v.protocol).to_lowercase()) }
                        td { (v.servers.len()) }
                        td {
                            (action_button(&ids, "toggle-virtual", if v.active { "Deactivate" } else { "Activate" }))
                            (action_button(&ids, "delete-virtual", "Delete"))
                        }
                    }
                }
            }
            p { a href="/virtual/edit" id="add-virtual" class="button" { "Add a virtual server" } }
        },
    )
}

/// The real servers of one virtual server, below its form.
pub fn virtual_extra(csrf: &str, base: &str, cfg: &LvsConfig, name: &str) -> Markup {
    let Some(v) = cfg.virtual_server(name) else {
        return html! {};
    };
    html! {
        p { a href=(format!("/virtual/scripts?vs={}", q(name))) id="scripts" { "MONITORING SCRIPTS" } }
        h3 { "REAL SERVERS" }
        table class="grid" id="servers" {
            tr { th { "Status" } th { "Name" } th { "Address" } th { "Weight" } th {} }
            @for s in &v.servers {
                @let ids = FormIds { csrf, base, virtual_name: Some(name), server_name: Some(&s.name) };
                tr {
                    td { @if s.active { "up" } @else { "down" } }
                    td { a href=(format!("/virtual/server?vs={}&rs={}", q(name), q(&s.name))) { (s.name) } }
                    td { @if let Some(a) = s.address { (a) } }
                    td { (s.weight) }
                    td {
                        (action_button(&ids, "toggle-server", if s.active { "Deactivate" } else { "Activate" }))
                        (action_button(&ids, "delete-server", "Delete"))
                    }
                }
            }
        }
        p { a href=(format!("/virtual/server?vs={}", q(name))) id="add-server" class="button" { "Add a real server" } }
    }
}

/// The preview: the unified diff and a confirm button carrying the same values.
pub fn preview(csrf: &str, diff: &str, replay: &[(String, String)], back: &str) -> Markup {
    layout(
        "preview",
        "",
        Some(csrf),
        None,
        html! {
            h2 { "The change to lvs.cf" }
            @if diff.is_empty() {
                p id="no-change" { "Nothing would change." }
            } @else {
                pre class="diff" id="diff" {
                    @for line in diff.lines() {
                        @let class = if line.starts_with("+++") || line.starts_with("---") { "file" }
                            else if line.starts_with('+') { "add" }
                            else if line.starts_with('-') { "del" }
                            else if line.starts_with("@@") { "hunk" } else { "ctx" };
                        span class=(class) { (line) } "\n"
                    }
                }
                form method="post" action="/edit" {
                    @for (k, v) in replay {
                        input type="hidden" name=(k) value=(v);
                    }
                    input type="hidden" name="confirm" value="1";
                    button type="submit" id="confirm" { "Write lvs.cf" }
                }
            }
            p { a href=(back) { "Back without writing" } }
        },
    )
}
