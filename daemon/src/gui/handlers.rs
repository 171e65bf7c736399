//! The routes. [`guard`] runs in front of every one of them (a layer on the whole router,
//! fallback included): sessions and CSRF are checked there, never per handler.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use maud::Markup;
use piranha_engine::config::{self, LvsConfig};
use serde::Deserialize;

use super::edit::{self, Edit, Rejected};
use super::fields::{Input, Page, NAME};
use super::pages::{self, q, FormIds};
use super::store::{self, Loaded};
use super::{auth, client, App};
use crate::control::{Request as ControlRequest, Response as ControlResponse, StatusReport};

/// Largest form accepted.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The session of an authenticated request (set by [`guard`]).
#[derive(Clone, Debug)]
pub(crate) struct Authed {
    token: String,
    csrf: String,
}

/// The client's address (set by [`guard`]; unspecified in tests without a socket).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientIp(IpAddr);

type AppState = State<Arc<App>>;

fn html(m: Markup) -> Html<String> {
    Html(m.into_string())
}

/// In front of every route: security headers everywhere; outside `/login` and `/static/`, a
/// live session for every method, and on POST the session's CSRF token.
pub(crate) async fn guard(State(app): AppState, mut req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    req.extensions_mut().insert(ClientIp(ip));
    let mut resp = if !same_origin(req.method(), req.headers()) {
        (StatusCode::FORBIDDEN, "cross-origin request refused").into_response()
    } else {
        let path = req.uri().path();
        if path == "/login" || path == "/static/app.js" || path == "/static/style.css" {
            next.run(req).await
        } else {
            authenticated(&app, req, next).await
        }
    };
    security_headers(resp.headers_mut());
    resp
}

/// A POST with an `Origin` header must come from this very site.
fn same_origin(method: &Method, headers: &HeaderMap) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    !host.is_empty() && (origin == format!("http://{host}") || origin == format!("https://{host}"))
}

async fn authenticated(app: &App, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(auth::token_from_cookies)
        .map(str::to_string);
    let csrf = token.as_ref().and_then(|t| {
        let mut sessions = app.sessions.lock().expect("sessions lock");
        sessions
            .get(t, &app.cfg.limits, Instant::now())
            .map(|s| s.csrf.clone())
    });
    let (Some(token), Some(csrf)) = (token, csrf) else {
        return if req.method() == Method::GET || req.method() == Method::HEAD {
            Redirect::to("/login").into_response()
        } else {
            (
                StatusCode::UNAUTHORIZED,
                "log in first: nothing was changed",
            )
                .into_response()
        };
    };
    let mut req = if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
        };
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let sent: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .collect();
        let ok = sent.len() == 1 && auth::constant_time_eq(sent[0].as_bytes(), csrf.as_bytes());
        if !ok {
            return (
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token: nothing was changed",
            )
                .into_response();
        }
        Request::from_parts(parts, Body::from(bytes))
    } else if req.method() == Method::GET || req.method() == Method::HEAD {
        req
    } else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    req.extensions_mut().insert(Authed { token, csrf });
    next.run(req).await
}

fn security_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    // `same-origin`, not `no-referrer`: with the latter browsers send `Origin: null` on POST.
    set(h, "referrer-policy", "same-origin");
    set(h, "cache-control", "no-store");
}

pub(crate) async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

pub(crate) async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/style.css"),
    )
}

pub(crate) async fn login_form() -> impl IntoResponse {
    html(pages::login(None))
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn login(
    State(app): AppState,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    Form(form): Form<LoginForm>,
) -> Response {
    let limits = &app.cfg.limits;
    let now = Instant::now();
    let allowed = app.limiter.lock().expect("limiter").check(ip, limits, now);
    if let Err(wait) = allowed {
        let secs = wait.as_secs().max(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            html(pages::login(Some(&format!(
                "Too many failed logins: try again in {secs} s."
            )))),
        )
            .into_response();
    }
    let hash = app.password_hash.clone();
    let password = form.password;
    let good_password =
        tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
            .await
            .unwrap_or(false);
    let good_user = auth::constant_time_eq(form.username.as_bytes(), auth::USER.as_bytes());
    if !(good_password && good_user) {
        app.limiter
            .lock()
            .expect("limiter")
            .failed(ip, limits, Instant::now());
        return (
            StatusCode::UNAUTHORIZED,
            html(pages::login(Some("Wrong user name or password."))),
        )
            .into_response();
    }
    app.limiter.lock().expect("limiter").succeeded(ip);
    let token = app
        .sessions
        .lock()
        .expect("sessions")
        .create(limits, Instant::now());
    let cookie = auth::session_cookie(&token, app.secure, limits.session_max);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_string()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

pub(crate) async fn logout(State(app): AppState, Extension(a): Extension<Authed>) -> Response {
    app.sessions.lock().expect("sessions").remove(&a.token);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (header::SET_COOKIE, auth::clear_cookie(app.secure)),
        ],
    )
        .into_response()
}

pub(crate) async fn not_found(Extension(a): Extension<Authed>) -> Response {
    (
        StatusCode::NOT_FOUND,
        html(pages::message(&a.csrf, "Not found", &[], "/")),
    )
        .into_response()
}

fn take_flash(app: &App, a: &Authed) -> Option<String> {
    let mut sessions = app.sessions.lock().expect("sessions");
    sessions
        .get(&a.token, &app.cfg.limits, Instant::now())
        .and_then(|s| s.flash.take())
}

fn set_flash(app: &App, a: &Authed, msg: String) {
    let mut sessions = app.sessions.lock().expect("sessions");
    if let Some(s) = sessions.get(&a.token, &app.cfg.limits, Instant::now()) {
        s.flash = Some(msg);
    }
}

/// The file now: its bytes and hash, and its model (or `piranha check`'s errors).
fn load(app: &App) -> Result<(Loaded, Result<LvsConfig, String>), String> {
    let path = &app.cfg.config_path;
    let loaded = store::load(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let parsed = if loaded.bytes.is_empty() {
        Ok(LvsConfig::default())
    } else {
        config::parse(&path.display().to_string(), &loaded.bytes)
            .map(|p| p.config)
            .map_err(|d| d.to_string())
    };
    Ok((loaded, parsed))
}

fn problem(a: &Authed, status: StatusCode, title: &str, lines: &[String], back: &str) -> Response {
    (status, html(pages::message(&a.csrf, title, lines, back))).into_response()
}

/// Load the file, or answer with why it cannot be edited.
fn load_for_edit(app: &App, a: &Authed) -> Result<(Loaded, LvsConfig), Box<Response>> {
    match load(app) {
        Err(e) => Err(Box::new(problem(
            a,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot read lvs.cf",
            &[e],
            "/",
        ))),
        Ok((_, Err(errors))) => Err(Box::new(problem(
            a,
            StatusCode::CONFLICT,
            "lvs.cf is not valid: fix it by hand first (piranha check)",
            &[errors],
            "/",
        ))),
        Ok((loaded, Ok(cfg))) => Ok((loaded, cfg)),
    }
}

async fn daemon_status(app: &App) -> Result<StatusReport, String> {
    match client::call(&app.cfg.control_socket, &ControlRequest::Status).await? {
        ControlResponse::Status(s) => Ok(s),
        ControlResponse::Error { message } => Err(message),
        ControlResponse::Ok { message } => Err(format!("unexpected answer: {message}")),
    }
}

pub(crate) async fn control_page(
    State(app): AppState,
    Extension(a): Extension<Authed>,
) -> Response {
    let flash = take_flash(&app, &a);
    let summary = match load(&app) {
        Err(e) => e,
        Ok((l, _)) if !l.exists => "does not exist yet".to_string(),
        Ok((_, Ok(cfg))) => format!(
            "serial_no {}, {} virtual servers, {} real servers",
            cfg.serial_no,
            cfg.virtuals.len(),
            cfg.real_server_count()
        ),
        Ok((_, Err(e))) => format!("NOT VALID:\n{e}"),
    };
    let status = daemon_status(&app).await;
    let file = app.cfg.config_path.display().to_string();
    html(pages::control(
        &a.csrf,
        flash.as_deref(),
        &file,
        &summary,
        &status,
    ))
    .into_response()
}

pub(crate) async fn status(State(app): AppState, Extension(a): Extension<Authed>) -> Response {
    let status = daemon_status(&app).await;
    html(pages::status_fragment(&a.csrf, &status)).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ControlForm {
    op: String,
    #[serde(default)]
    vs: String,
    #[serde(default)]
    rs: String,
}

pub(crate) async fn control(
    State(app): AppState,
    Extension(a): Extension<Authed>,
    Form(f): Form<ControlForm>,
) -> Response {
    let request = match f.op.as_str() {
        "reload" => ControlRequest::Reload,
        "drain" => ControlRequest::Drain {
            virtual_name: f.vs,
            server: f.rs,
        },
        "enable" => ControlRequest::Enable {
            virtual_name: f.vs,
            server: f.rs,
        },
        _ => return problem(&a, StatusCode::BAD_REQUEST, "Unknown operation", &[], "/"),
    };
    let msg = match client::call(&app.cfg.control_socket, &request).await {
        Ok(ControlResponse::Ok { message }) => format!("Daemon: {message}"),
        Ok(ControlResponse::Error { message }) => format!("Daemon refused: {message}"),
        Ok(ControlResponse::Status(_)) => "Daemon: unexpected answer".to_string(),
        Err(e) => e,
    };
    set_flash(&app, &a, msg);
    Redirect::to("/").into_response()
}

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
            (pages::edit_form(page, &ids, values, rejected))
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
    let new_text = match edit::apply(&cfg, &form.edit, &file_name) {
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
