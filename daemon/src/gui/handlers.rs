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

/// Largest login form accepted (a user name and a password).
const MAX_LOGIN_BYTES: usize = 4 * 1024;

/// In front of every route: security headers everywhere; the request must name this tool
/// (`Host`/`:authority` on the allowlist, against DNS rebinding) and come from its own pages
/// (`Origin`); POST bodies are bounded in size and time; outside `/login` and `/static/`, a
/// live session for every method, and on POST the session's CSRF token. A change of the
/// password file is noticed here, on every request: the old sessions end.
pub(crate) async fn guard(State(app): AppState, mut req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    req.extensions_mut().insert(ClientIp(ip));
    if app.password.lock().expect("password").refresh() {
        app.sessions.lock().expect("sessions").clear();
    }
    let names = request_names(&req);
    let mut resp = if let Some(bad) = names.iter().find(|n| !app.hosts.allows(n)) {
        (
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "refused: `{}` is not a name of this tool (DNS rebinding protection); \
                 if it is, start piranha gui with --allow-host NAME",
                printable(bad)
            ),
        )
            .into_response()
    } else if !same_origin(
        req.method(),
        req.headers(),
        names.first().map(String::as_str),
    ) {
        (StatusCode::FORBIDDEN, "cross-origin request refused").into_response()
    } else {
        let path = req.uri().path().to_string();
        let limit = if path == "/login" {
            MAX_LOGIN_BYTES
        } else {
            MAX_FORM_BYTES
        };
        match buffer_post_body(req, limit, app.cfg.limits.body_timeout).await {
            Err(resp) => resp,
            Ok(req) => {
                if path == "/login" || path == "/static/app.js" || path == "/static/style.css" {
                    next.run(req).await
                } else {
                    authenticated(&app, req, next).await
                }
            }
        }
    };
    security_headers(resp.headers_mut(), app.secure);
    resp
}

/// The host names a request is addressed to: the URI's authority (HTTP/2 `:authority`, or an
/// absolute-form HTTP/1.1 target), then the `Host` header. Empty when neither is sent.
fn request_names(req: &Request) -> Vec<String> {
    let mut out: Vec<String> = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .into_iter()
        .collect();
    for h in req.headers().get_all(header::HOST) {
        let v = h
            .to_str()
            .map(str::to_string)
            .unwrap_or_else(|_| "?".into());
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(100)
        .collect()
}

/// Read a POST body (at most `limit` bytes, within `deadline`) before anything else does.
async fn buffer_post_body(
    req: Request,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<Request, Response> {
    if req.method() != Method::POST {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            "request body too slow: nothing was changed",
        )
            .into_response()),
        Ok(Err(_)) => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "form too large: nothing was changed",
        )
            .into_response()),
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, Body::from(bytes))),
    }
}

/// A POST with an `Origin` header must come from this very site: `authority` is the one the
/// request was sent to (HTTP/2 sends no `Host` header, only `:authority`).
fn same_origin(method: &Method, headers: &HeaderMap, authority: Option<&str>) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = authority.filter(|h| !h.is_empty()) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let origin = origin.to_ascii_lowercase();
    origin == format!("http://{host}") || origin == format!("https://{host}")
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
        // Already buffered (and bounded) by the guard.
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

fn security_headers(h: &mut HeaderMap, tls: bool) {
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
    if tls {
        // A year; no includeSubDomains: the director's name may share a domain with services
        // this tool knows nothing about.
        set(h, "strict-transport-security", "max-age=31536000");
    }
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

/// A login attempt reserved in the limiter: if the handler is dropped before the verify's
/// outcome (the client went away), it counts as failed.
struct Attempt<'a> {
    app: &'a App,
    ip: IpAddr,
    done: bool,
}

impl Attempt<'_> {
    fn finish(mut self, success: bool) {
        self.done = true;
        self.app.limiter.lock().expect("limiter").finished(
            self.ip,
            success,
            &self.app.cfg.limits,
            Instant::now(),
        );
    }
}

impl Attempt<'_> {
    fn cancel(mut self) {
        self.done = true;
        self.app.limiter.lock().expect("limiter").cancel(
            self.ip,
            &self.app.cfg.limits,
            Instant::now(),
        );
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Ok(mut l) = self.app.limiter.lock() {
                l.finished(self.ip, false, &self.app.cfg.limits, Instant::now());
            }
        }
    }
}

fn too_many(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs().max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        html(pages::login(Some(&format!(
            "Too many failed logins: try again in {secs} s."
        )))),
    )
        .into_response()
}

/// POST /login: the attempt is reserved in the limiter *before* the password is verified, and
/// verifies run on a fixed pool of threads with a bounded queue (each argon2 verify takes
/// 19 MiB), so parallel wrong logins neither bypass the limiter nor exhaust memory.
pub(crate) async fn login(
    State(app): AppState,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    Form(form): Form<LoginForm>,
) -> Response {
    let limits = &app.cfg.limits;
    let reserved = app
        .limiter
        .lock()
        .expect("limiter")
        .reserve(ip, limits, Instant::now());
    if let Err(wait) = reserved {
        return too_many(wait);
    }
    let attempt = Attempt {
        app: &app,
        ip,
        done: false,
    };
    let hash = app
        .password
        .lock()
        .expect("password")
        .hash()
        .map(str::to_string);
    let Some(hash) = hash else {
        attempt.finish(false);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            html(pages::login(Some(
                "The password file is unusable: run piranha passwd on the director.",
            ))),
        )
            .into_response();
    };
    let Some(answer) = app.verifier.submit(hash, form.password) else {
        attempt.cancel();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1".to_string())],
            html(pages::login(Some("Too many logins at once: try again."))),
        )
            .into_response();
    };
    // The verify runs to its end on the pool even if this request is dropped meanwhile.
    let good_password = answer.await.unwrap_or(false);
    let good_user = auth::constant_time_eq(form.username.as_bytes(), auth::USER.as_bytes());
    let ok = good_password && good_user;
    attempt.finish(ok);
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            html(pages::login(Some("Wrong user name or password."))),
        )
            .into_response();
    }
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
