//! Shared fixture of the HTTP-level tests of `piranha gui`: a router over a temporary lvs.cf,
//! requests through tower's `oneshot`, logging in, and reading forms out of pages.
#![allow(dead_code, unused_imports)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt as _;
use piranha_daemon::gui::{self, auth, GuiConfig, Limits};
use tower::ServiceExt as _;

pub const PASSWORD: &str = "correct horse battery";
pub const BASE: &str = include_str!("../corpus/gui_two_routers.cf");

/// One hash for the whole test binary (argon2 is slow in debug builds).
pub fn password_line() -> &'static str {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(|| format!("piranha:{}\n", auth::hash_password(PASSWORD).unwrap()))
}

pub struct Fixture {
    pub dir: PathBuf,
    pub cf: PathBuf,
    pub app: Router,
}

pub fn fixture_with(name: &str, limits: Limits, socket: Option<PathBuf>) -> Fixture {
    fixture_custom(name, limits, socket, |_| {})
}

/// A fixture whose configuration `tune` may change (flags such as `edit_commands`).
pub fn fixture_custom(
    name: &str,
    limits: Limits,
    socket: Option<PathBuf>,
    tune: impl FnOnce(&mut GuiConfig),
) -> Fixture {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("gui_http")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cf = dir.join("lvs.cf");
    std::fs::write(&cf, BASE).unwrap();
    let pw = dir.join("piranha.passwd");
    std::fs::write(&pw, password_line()).unwrap();
    let mut cfg = GuiConfig {
        config_path: cf.clone(),
        passwd_file: pw,
        listen: gui::DEFAULT_LISTEN.parse().unwrap(),
        control_socket: socket.unwrap_or_else(|| dir.join("no-daemon.sock")),
        tls: None,
        limits,
        allowed_hosts: Vec::new(),
        edit_commands: false,
    };
    tune(&mut cfg);
    let app = gui::router(cfg).unwrap();
    Fixture { dir, cf, app }
}

pub fn fixture(name: &str) -> Fixture {
    fixture_with(name, Limits::default(), None)
}

pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub cookie: Option<String>,
    pub body: String,
}

impl Fixture {
    pub async fn send(&self, method: Method, uri: &str, cookie: Option<&str>, form: &str) -> Reply {
        let mut req = Request::builder().method(method.clone()).uri(uri);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if method == Method::POST {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(form.to_string())).unwrap())
            .await
            .unwrap();
        let h = |k| {
            resp.headers()
                .get(k)
                .map(|v: &header::HeaderValue| v.to_str().unwrap().to_string())
        };
        let location = h(header::LOCATION);
        let cookie = h(header::SET_COOKIE);
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            location,
            cookie,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, uri: &str, s: &Session) -> Reply {
        self.send(Method::GET, uri, Some(&s.cookie), "").await
    }

    pub async fn post(&self, uri: &str, s: &Session, form: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, uri, Some(&s.cookie), &enc(form))
            .await
    }

    pub async fn login(&self) -> Session {
        let r = self
            .send(
                Method::POST,
                "/login",
                None,
                &enc(&[("username", "piranha"), ("password", PASSWORD)]),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let set = r.cookie.expect("a session cookie");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert!(!set.contains("Secure"), "plain HTTP: no Secure flag");
        let cookie = set.split(';').next().unwrap().to_string();
        let page = self.send(Method::GET, "/global", Some(&cookie), "").await;
        assert_eq!(page.status, StatusCode::OK);
        Session {
            cookie,
            csrf: hidden(&page.body, "csrf"),
        }
    }

    pub fn file(&self) -> String {
        std::fs::read_to_string(&self.cf).unwrap()
    }

    pub fn backup(&self) -> PathBuf {
        self.dir.join("lvs.cf.bak")
    }
}

pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub fn enc(form: &[(&str, &str)]) -> String {
    serde_urlencoded_encode(form)
}

pub fn serde_urlencoded_encode(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn pct(s: &str) -> String {
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

/// The value of the first hidden input `name` in a page.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

/// All inputs of the edit form in a page, as the browser would submit them.
pub fn form_values(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let form = &body[body.find("action=\"/edit\"").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    for tag in form.split('<').skip(1) {
        let attr = |a: &str| {
            let m = format!(" {a}=\"");
            tag.find(&m).map(|i| {
                let s = &tag[i + m.len()..];
                unescape(&s[..s.find('"').unwrap()])
            })
        };
        if tag.starts_with("input") {
            let Some(name) = attr("name") else { continue };
            let is_box = tag.contains("type=\"checkbox\"");
            if is_box && !tag.contains(" checked") {
                continue;
            }
            out.push((name, attr("value").unwrap_or_default()));
        } else if tag.starts_with("select") {
            let name = attr("name").unwrap();
            let sel = form[form.find(tag).unwrap()..]
                .split("</select>")
                .next()
                .unwrap();
            let chosen = sel
                .split("<option")
                .find(|o| o.contains(" selected"))
                .map(|o| {
                    let s = &o[o.find("value=\"").unwrap() + 7..];
                    unescape(&s[..s.find('"').unwrap()])
                })
                .unwrap_or_default();
            out.push((name, chosen));
        }
    }
    out
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub fn with(values: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = values.to_vec();
    for (k, v) in changes {
        match m.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v.to_string(),
            None => m.push((k.to_string(), v.to_string())),
        }
    }
    m
}

pub fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

pub const PROTECTED: &[&str] = &[
    "/",
    "/status",
    "/control",
    "/global",
    "/redundancy",
    "/virtual",
    "/virtual/edit?vs=http",
    "/virtual/scripts?vs=http",
    "/virtual/server?vs=http&rs=web1",
    "/edit",
    "/logout",
    "/no/such/page",
    "/static/../edit",
    "//edit",
];

pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
];

/// The hidden inputs of the preview's confirm form.
pub fn form_values_confirm(body: &str) -> Vec<(String, String)> {
    let form = &body[body
        .find("name=\"confirm\"")
        .map(|_| body.find("<form method=\"post\" action=\"/edit\"").unwrap())
        .unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    form.split("<input")
        .skip(1)
        .map(|tag| {
            let get = |a: &str| {
                let m = format!("{a}=\"");
                let s = &tag[tag.find(&m).unwrap() + m.len()..];
                unescape(&s[..s.find('"').unwrap()])
            };
            (get("name"), get("value"))
        })
        .collect()
}
