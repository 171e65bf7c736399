//! The pages that edit lvs.cf (GET: show the form; POST /edit: validate, preview, write).
//! Sessions and CSRF were checked by [`super::handlers::guard`] before any of this runs.

use std::collections::BTreeMap;

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use piranha_engine::config;

use super::edit::{self, Edit, Rejected};
use super::fields::{Input, Page, NAME};
use super::handlers::{html, load_for_edit, problem, set_flash, take_flash, AppState, Authed};
use super::pages::{self, q, FormIds};
use super::{auth, store, App};

type Params = Query<BTreeMap<String, String>>;

fn param<'a>(p: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
    p.get(k).map(String::as_str).filter(|s| !s.is_empty())
}

/// Render the edit page of `page` for the file as it is now.
fn edit_view(
    app: &App,
    a: &Authed,
    page: Page,
    vs: Option<&str>,
    rs: Option<&str>,
    shown: Option<(&BTreeMap<String, String>, &Rejected)>,
) -> Response {
    let flash = if shown.is_none() {
        take_flash(app, a)
    } else {
        None
    };
    let (loaded, cfg) = match load_for_edit(app, a) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if let Some(v) = vs {
        let Some(virt) = cfg.virtual_server(v) else {
            return problem(
                a,
                StatusCode::NOT_FOUND,
                "No such virtual server",
                &[],
                "/virtual",
            );
        };
        if rs.is_some_and(|s| virt.servers.iter().all(|x| x.name != s)) {
            return problem(
                a,
                StatusCode::NOT_FOUND,
                "No such real server",
                &[],
                "/virtual",
            );
        }
    }
    let current = edit::current_values(&cfg, page, vs, rs);
    let (values, rejected) = match shown {
        Some((v, r)) => (v, Some(r)),
        None => (&current, None),
    };
    let ids = FormIds {
        csrf: &a.csrf,
        base: &loaded.hash,
        virtual_name: vs,
        server_name: rs,
    };
    let (title, tab, extra) = match page {
        Page::Global => ("GLOBAL SETTINGS".to_string(), "/global", maud::html! {}),
        Page::Redundancy => ("REDUNDANCY".to_string(), "/redundancy", maud::html! {}),
        Page::Virtual => (
            match vs {
                Some(v) => format!("VIRTUAL SERVER {v}"),
                None => "NEW VIRTUAL SERVER".to_string(),
            },
            "/virtual",
            vs.map(|v| pages::virtual_extra(&a.csrf, &loaded.hash, &cfg, v))
                .unwrap_or_default(),
        ),
        Page::Scripts => (
            format!("MONITORING SCRIPTS of {}", vs.unwrap_or_default()),
            "/virtual",
            maud::html! {},
        ),
        Page::Server => (
            match rs {
                Some(s) => format!("REAL SERVER {s} of {}", vs.unwrap_or_default()),
                None => format!("NEW REAL SERVER of {}", vs.unwrap_or_default()),
            },
            "/virtual",
            maud::html! {},
        ),
    };
    let status = if rejected.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = pages::layout(
        &title,
        tab,
        Some(&a.csrf),
        flash.as_deref(),
        maud::html! {
            h2 { (title) }
            (pages::edit_form(page, &ids, values, rejected, app.cfg.edit_commands))
            (extra)
        },
    );
    (status, html(body)).into_response()
}

pub(crate) async fn global_page(State(app): AppState, Extension(a): Extension<Authed>) -> Response {
    edit_view(&app, &a, Page::Global, None, None, None)
}

pub(crate) async fn redundancy_page(
    State(app): AppState,
    Extension(a): Extension<Authed>,
) -> Response {
    edit_view(&app, &a, Page::Redundancy, None, None, None)
}

pub(crate) async fn virtual_list(
    State(app): AppState,
    Extension(a): Extension<Authed>,
) -> Response {
    let flash = take_flash(&app, &a);
    match load_for_edit(&app, &a) {
        Ok((loaded, cfg)) => html(pages::virtual_list(
            &a.csrf,
            &loaded.hash,
            flash.as_deref(),
            &cfg,
        ))
        .into_response(),
        Err(r) => *r,
    }
}

pub(crate) async fn virtual_page(
    State(app): AppState,
    Extension(a): Extension<Authed>,
    Query(p): Params,
) -> Response {
    edit_view(&app, &a, Page::Virtual, param(&p, "vs"), None, None)
}

pub(crate) async fn scripts_page(
    State(app): AppState,
    Extension(a): Extension<Authed>,
    Query(p): Params,
) -> Response {
    match param(&p, "vs") {
        Some(vs) => edit_view(&app, &a, Page::Scripts, Some(vs), None, None),
        None => problem(
            &a,
            StatusCode::BAD_REQUEST,
            "Which virtual server?",
            &[],
            "/virtual",
        ),
    }
}

pub(crate) async fn server_page(
    State(app): AppState,
    Extension(a): Extension<Authed>,
    Query(p): Params,
) -> Response {
    match param(&p, "vs") {
        Some(vs) => edit_view(&app, &a, Page::Server, Some(vs), param(&p, "rs"), None),
        None => problem(
            &a,
            StatusCode::BAD_REQUEST,
            "Which virtual server?",
            &[],
            "/virtual",
        ),
    }
}

/// A parsed edit form.
struct EditForm {
    edit: Edit,
    base: String,
    confirm: bool,
    /// The hidden fields that repeat this edit (for the preview's confirm button).
    replay: Vec<(String, String)>,
    /// Where to go afterwards.
    back: String,
}

fn parse_edit_form(csrf: &str, pairs: Vec<(String, String)>) -> Result<EditForm, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in pairs {
        m.entry(k).or_insert(v);
    }
    let get = |k: &str| m.get(k).cloned().filter(|s| !s.is_empty());
    let op = get("op").ok_or("no operation")?;
    let vs = get("vs");
    let rs = get("rs");
    let need_vs = || vs.clone().ok_or("which virtual server?");
    let need_rs = || rs.clone().ok_or("which real server?");
    let mut replay = vec![
        ("csrf".to_string(), csrf.to_string()),
        ("base".to_string(), get("base").unwrap_or_default()),
        ("op".to_string(), op.clone()),
        ("page".to_string(), get("page").unwrap_or_default()),
    ];
    replay.extend(vs.iter().map(|v| ("vs".to_string(), v.clone())));
    replay.extend(rs.iter().map(|v| ("rs".to_string(), v.clone())));
    let vs_url = |v: &str| format!("/virtual/edit?vs={}", q(v));
    let (edit, back) = match op.as_str() {
        "save" => {
            let page = get("page")
                .and_then(|p| Page::from_name(&p))
                .ok_or("unknown page")?;
            let mut values = BTreeMap::new();
            for field in page.fields() {
                let v = m.get(field.key).cloned().unwrap_or_default();
                let v = match field.input {
                    Input::Bool => if v == "1" { "1" } else { "0" }.to_string(),
                    _ => v,
                };
                replay.push((field.key.to_string(), v.clone()));
                values.insert(field.key.to_string(), v);
            }
            let back = match page {
                Page::Global => "/global".to_string(),
                Page::Redundancy => "/redundancy".to_string(),
                Page::Virtual => vs_url(values.get(NAME).map(|s| s.trim()).unwrap_or("")),
                Page::Scripts => format!("/virtual/scripts?vs={}", q(&need_vs()?)),
                Page::Server => vs_url(&need_vs()?),
            };
            if matches!(page, Page::Scripts | Page::Server) {
                need_vs()?;
            }
            (
                Edit::Save {
                    page,
                    virtual_name: vs.clone(),
                    server_name: rs.clone(),
                    values,
                },
                back,
            )
        }
        "delete-virtual" => (Edit::DeleteVirtual(need_vs()?), "/virtual".to_string()),
        "toggle-virtual" => (Edit::ToggleVirtual(need_vs()?), "/virtual".to_string()),
        "delete-server" => (
            Edit::DeleteServer(need_vs()?, need_rs()?),
            vs_url(&need_vs()?),
        ),
        "toggle-server" => (
            Edit::ToggleServer(need_vs()?, need_rs()?),
            vs_url(&need_vs()?),
        ),
        _ => return Err("unknown operation".into()),
    };
    Ok(EditForm {
        edit,
        base: get("base").unwrap_or_default(),
        confirm: get("confirm").as_deref() == Some("1"),
        replay,
        back,
    })
}

const CHANGED_ON_DISK: &str = "lvs.cf has changed on disk since this page was loaded; \
    nothing was written. Load the page again to edit the current file.";

/// POST /edit: validate, then show the diff (preview), or write it (confirm).
pub(crate) async fn edit(
    State(app): AppState,
    Extension(a): Extension<Authed>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form = match parse_edit_form(&a.csrf, pairs) {
        Ok(f) => f,
        Err(e) => return problem(&a, StatusCode::BAD_REQUEST, "Bad request", &[e], "/"),
    };
    let (loaded, cfg) = match load_for_edit(&app, &a) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if !auth::constant_time_eq(loaded.hash.as_bytes(), form.base.as_bytes()) {
        return problem(&a, StatusCode::CONFLICT, CHANGED_ON_DISK, &[], &form.back);
    }
    let file_name = app.cfg.config_path.display().to_string();
    let checked = match &form.edit {
        Edit::Save {
            page,
            virtual_name,
            server_name,
            values,
        } => {
            let current =
                edit::current_values(&cfg, *page, virtual_name.as_deref(), server_name.as_deref());
            edit::check_commands(*page, values, &current, app.cfg.edit_commands)
        }
        _ => Ok(()),
    };
    // Both checks, so that every field's problems are shown at once.
    let applied = match (checked, edit::apply(&cfg, &form.edit, &file_name)) {
        (Ok(()), r) => r,
        (Err(r), Ok(_)) => Err(r),
        (Err(mut a), Err(b)) => {
            for (k, v) in b.by_field {
                a.by_field.entry(k).or_default().extend(v);
            }
            a.general.extend(b.general);
            Err(a)
        }
    };
    let new_text = match applied {
        Ok(t) => t,
        Err(rejected) => {
            return match &form.edit {
                Edit::Save {
                    page,
                    virtual_name,
                    server_name,
                    values,
                } => edit_view(
                    &app,
                    &a,
                    *page,
                    virtual_name.as_deref(),
                    server_name.as_deref(),
                    Some((values, &rejected)),
                ),
                _ => {
                    let mut lines = rejected.general.clone();
                    lines.extend(rejected.by_field.values().flatten().cloned());
                    problem(
                        &a,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Not saved",
                        &lines,
                        &form.back,
                    )
                }
            };
        }
    };
    let old_text = String::from_utf8_lossy(&loaded.bytes).into_owned();
    if !form.confirm {
        let diff = if old_text == new_text {
            String::new()
        } else {
            similar::TextDiff::from_lines(&old_text, &new_text)
                .unified_diff()
                .context_radius(3)
                .header(&file_name, &format!("{file_name} (new)"))
                .to_string()
        };
        return html(pages::preview(&a.csrf, &diff, &form.replay, &form.back)).into_response();
    }
    let _writing = app.write_lock.lock().await;
    // Again under the lock: nobody (this tool or an editor) changed it since the preview.
    match store::load(&app.cfg.config_path) {
        Ok(now) if now.hash == loaded.hash => {}
        _ => return problem(&a, StatusCode::CONFLICT, CHANGED_ON_DISK, &[], &form.back),
    }
    if let Err(e) = store::save_with_backup(&app.cfg.config_path, &loaded, new_text.as_bytes()) {
        return problem(
            &a,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot write lvs.cf",
            &[e.to_string()],
            &form.back,
        );
    }
    let serial = config::parse(&file_name, new_text.as_bytes())
        .map(|p| p.config.serial_no)
        .unwrap_or_default();
    set_flash(
        &app,
        &a,
        format!(
            "Saved {file_name} (serial_no {serial}); the previous version is {}. \
             Reload the daemon (CONTROL/MONITORING) to apply it.",
            store::backup_path(&app.cfg.config_path).display()
        ),
    );
    Redirect::to(&form.back).into_response()
}
