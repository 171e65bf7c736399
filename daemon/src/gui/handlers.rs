//! Authentication, monitoring and control routes (the editing pages are in `editing.rs`).
//! [`guard`] runs in front of every route (a layer on the whole router,
//! fallback included): sessions and CSRF are checked there, never per handler.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Form, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use maud::Markup;
use piranha_engine::config::{self, LvsConfig};
use serde::Deserialize;

use super::pages;
use super::store::{self, Loaded};
use super::{auth, App};
use crate::control::{Request as ControlRequest, Response as ControlResponse, StatusReport};
use crate::control_client as client;

/// Largest form accepted.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The session of an authenticated request (set by [`guard`]).
#[derive(Clone, Debug)]
pub(crate) struct Authed {
    pub(super) token: String,
    pub(super) csrf: String,
}

/// The client's address (set by [`guard`]; unspecified in tests without a socket).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientIp(IpAddr);

pub(super) type AppState = State<Arc<App>>;

pub(super) fn html(m: Markup) -> Html<String> {
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

pub(super) fn take_flash(app: &App, a: &Authed) -> Option<String> {
    let mut sessions = app.sessions.lock().expect("sessions");
    sessions
        .get(&a.token, &app.cfg.limits, Instant::now())
        .and_then(|s| s.flash.take())
}

pub(super) fn set_flash(app: &App, a: &Authed, msg: String) {
    let mut sessions = app.sessions.lock().expect("sessions");
    if let Some(s) = sessions.get(&a.token, &app.cfg.limits, Instant::now()) {
        s.flash = Some(msg);
    }
}

/// The file now: its bytes and hash, and its model (or `piranha check`'s errors).
pub(super) fn load(app: &App) -> Result<(Loaded, Result<LvsConfig, String>), String> {
    let path = &app.cfg.config_path;
    let loaded = store::load(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let parsed = if loaded.bytes.is_empty() {
        Ok(LvsConfig::default())
    } else {
        // An incomplete file (no `primary` yet...) loads, so the tool can finish it.
        let opts = config::Options {
            resolve: None,
            allow_incomplete: true,
        };
        config::parse_with(&path.display().to_string(), &loaded.bytes, &opts)
            .map(|p| p.config)
            .map_err(|d| d.to_string())
    };
    Ok((loaded, parsed))
}

pub(super) fn problem(
    a: &Authed,
    status: StatusCode,
    title: &str,
    lines: &[String],
    back: &str,
) -> Response {
    (status, html(pages::message(&a.csrf, title, lines, back))).into_response()
}

/// Load the file, or answer with why it cannot be edited.
pub(super) fn load_for_edit(app: &App, a: &Authed) -> Result<(Loaded, LvsConfig), Box<Response>> {
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
