//! Issue 13's attacks on the web tool, at the HTTP level (the router driven with tower's
//! `oneshot`, client addresses given as `ConnectInfo`): parallel wrong logins, a flood that
//! must not lock the operator out, DNS rebinding and HTTP/2's missing `Host`, root commands
//! through the forms, invisible characters and oversized values, a password changed under a
//! running tool, HSTS, huge and slow bodies, saves of a `nobody` 0600 file and of a symlink.
//! The socket-level ones (slow clients, connection caps) are in gui_http_slow.rs.

mod gui_support;

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use gui_support::*;
use http_body_util::BodyExt as _;
use piranha_daemon::gui::{auth, Limits};
use tower::ServiceExt as _;

/// A request from `from` with extra headers; the reply's status, headers and body.
async fn raw(
    fx: &Fixture,
    method: Method,
    uri: &str,
    from: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(body).unwrap();
    let addr: SocketAddr = from.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = fx.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn login_from(fx: &Fixture, from: &str, password: &str) -> StatusCode {
    let form = enc(&[("username", "piranha"), ("password", password)]);
    raw(
        fx,
        Method::POST,
        "/login",
        from,
        &[(
            header::CONTENT_TYPE.as_str(),
            "application/x-www-form-urlencoded",
        )],
        Body::from(form),
    )
    .await
    .0
}

#[tokio::test]
async fn parallel_wrong_logins_are_verified_one_at_a_time_per_address() {
    let fx = fixture("attack_parallel");
    let tries: Vec<_> = (0..80)
        .map(|i| {
            let fx = &fx;
            async move { login_from(fx, "192.0.2.7:40000", &format!("wrong {i}")).await }
        })
        .collect();
    let codes = futures_join_all(tries).await;
    let verified = codes
        .iter()
        .filter(|c| **c == StatusCode::UNAUTHORIZED)
        .count();
    let refused = codes
        .iter()
        .filter(|c| **c == StatusCode::TOO_MANY_REQUESTS || **c == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(verified + refused, 80, "{codes:?}");
    // One attempt in flight per address: the first; the others were refused before argon2.
    assert_eq!(verified, 1, "{codes:?}");
    // Another address is not held up by that one, and the right password gets in.
    assert_eq!(
        login_from(&fx, "192.0.2.8:40000", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

/// `join_all` without a futures dependency: spawn each on the runtime.
async fn futures_join_all<F>(futs: Vec<F>) -> Vec<StatusCode>
where
    F: std::future::Future<Output = StatusCode>,
{
    // The futures borrow the fixture, so run them concurrently in place.
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out = vec![None; set.len()];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(c) => out[i] = Some(c),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn a_flood_of_failures_does_not_lock_the_operator_out() {
    let limits = Limits {
        global_failures_per_minute: 6,
        ..Limits::default()
    };
    let fx = fixture_with("attack_flood", limits, None);
    // Six attackers spend the global budget.
    for i in 1..=6 {
        let from = format!("203.0.113.{i}:5000");
        assert_eq!(
            login_from(&fx, &from, "guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Any of them trying again now waits for the minute's end...
    assert_eq!(
        login_from(&fx, "203.0.113.1:5001", "guess 2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...but the operator, from an address without failures, is verified and gets in.
    assert_eq!(
        login_from(&fx, "198.51.100.20:6000", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    // Having logged in, a typo later does not shut them out either.
    assert_eq!(
        login_from(&fx, "198.51.100.20:6000", "typo").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&fx, "198.51.100.20:6000", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn foreign_host_names_are_refused_and_http2_authority_is_the_origin() {
    let fx = fixture("attack_hosts");
    let from = "127.0.0.1:1234";
    // DNS rebinding: the attacker's name, resolved to 127.0.0.1.
    for (uri, host) in [
        ("/login", Some("evil.example:3636")),
        ("http://evil.example:3636/login", None),
        ("/login", Some("localhost.evil.example")),
    ] {
        let h: Vec<(&str, &str)> = host.iter().map(|h| ("host", *h)).collect();
        let (status, _, body) = raw(&fx, Method::GET, uri, from, &h, Body::empty()).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{uri} {host:?}");
        assert!(body.contains("--allow-host"), "{body}");
    }
    // The tool's own names and IP literals are answered.
    for host in ["localhost:3636", "127.0.0.1:3636", "[::1]:3636", "10.0.0.1"] {
        let (status, _, _) = raw(
            &fx,
            Method::GET,
            "/login",
            from,
            &[("host", host)],
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{host}");
    }
    // HTTP/2 sends `:authority` (the URI's authority), no Host: a same-origin login works...
    let form = enc(&[("username", "piranha"), ("password", PASSWORD)]);
    let ctype = (
        header::CONTENT_TYPE.as_str(),
        "application/x-www-form-urlencoded",
    );
    let (status, _, body) = raw(
        &fx,
        Method::POST,
        "https://localhost:3636/login",
        from,
        &[("origin", "https://localhost:3636"), ctype],
        Body::from(form.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    // ...and a cross-origin one is still refused.
    let (status, _, _) = raw(
        &fx,
        Method::POST,
        "https://localhost:3636/login",
        from,
        &[("origin", "https://evil.example"), ctype],
        Body::from(form.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An Origin with nothing to compare it with is refused; `Origin: null` too.
    for origin in ["http://localhost:3636", "null"] {
        let (status, _, _) = raw(
            &fx,
            Method::POST,
            "/login",
            from,
            &[("origin", origin), ctype],
            Body::from(form.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
    }
}

#[tokio::test]
async fn allowed_hosts_extend_the_list() {
    let fx = fixture_custom("attack_allow_host", Limits::default(), None, |c| {
        c.allowed_hosts = vec!["director1.example".into()]
    });
    let (status, _, _) = raw(
        &fx,
        Method::GET,
        "/login",
        "127.0.0.1:1",
        &[("host", "Director1.Example:3636")],
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

const COMMAND_FIELDS: &[(&str, &str)] = &[
    ("/global", "active_cmd"),
    ("/global", "inactive_cmd"),
    ("/global", "rsh_command"),
    ("/virtual/scripts?vs=http", "send_program"),
];

#[tokio::test]
async fn commands_the_daemon_runs_are_read_only_without_the_flag() {
    let fx = fixture("attack_commands");
    let s = fx.login().await;
    for (page, key) in COMMAND_FIELDS {
        let body = fx.get(page, &s).await.body;
        let tag = &body[body.find(&format!("id=\"f-{key}\"")).unwrap()..];
        let tag = &tag[..tag.find('>').unwrap()];
        assert!(tag.contains("readonly"), "{key}: {tag}");
        let form = with(
            &form_values(&body),
            &[(key, "/bin/sh -c 'id > /tmp/pwned'")],
        );
        let r = fx.post("/edit", &s, &refs(&form)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{key}");
        assert!(
            r.body.contains(&format!("error: {key}: read-only here"))
                && r.body.contains("--edit-commands"),
            "{key}: {}",
            r.body
        );
        assert_eq!(fx.file(), BASE);
    }
    // A new virtual server cannot bring a command in either (its page has no such field,
    // and a crafted `send_program` on the VIRTUAL SERVER page is not one of its keys).
    // Other fields of the same page still save (the unchanged command is not in the way).
    let body = fx.get("/global", &s).await.body;
    let form = with(&form_values(&body), &[("tcp_timeout", "120")]);
    let r = fx.post("/edit", &s, &refs(&form)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("+tcp_timeout = 120"), "{}", r.body);
}

#[tokio::test]
async fn commands_are_editable_with_the_flag() {
    let fx = fixture_custom("attack_commands_on", Limits::default(), None, |c| {
        c.edit_commands = true
    });
    let s = fx.login().await;
    let body = fx.get("/global", &s).await.body;
    assert!(!body.contains("readonly"));
    let form = with(
        &form_values(&body),
        &[("active_cmd", "/usr/local/bin/on-takeover")],
    );
    let r = fx.post("/edit", &s, &refs(&form)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body
            .contains("+active_cmd = &quot;/usr/local/bin/on-takeover&quot;"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn invisible_characters_and_oversized_values_are_refused_in_every_field() {
    let fx = fixture("attack_invisible");
    let s = fx.login().await;
    let long = "a".repeat(2000);
    let mut tried = 0;
    for page in [
        "/global",
        "/redundancy",
        "/virtual/edit?vs=http",
        "/virtual/scripts?vs=http",
        "/virtual/server?vs=http&rs=web1",
    ] {
        let body = fx.get(page, &s).await.body;
        let values = form_values(&body);
        let text_keys: Vec<String> = values
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| body.contains(&format!("type=\"text\" id=\"f-{k}\"")))
            .collect();
        for key in &text_keys {
            for (bad, want) in [
                ("GET /\u{202E}txt.exe", "U+202E"),
                ("x\u{200B}y", "U+200B"),
                ("\u{2066}a\u{2069}", "U+2066"),
                (long.as_str(), "too long (2000 bytes; at most 1024)"),
            ] {
                let form = with(&values, &[(key, bad)]);
                let r = fx.post("/edit", &s, &refs(&form)).await;
                assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{page} {key}");
                assert!(
                    r.body.contains(&format!("error: {key}: ")) && r.body.contains(want),
                    "{page} {key} {want}"
                );
            }
            tried += 1;
        }
    }
    assert!(tried >= 30, "only {tried} text fields");
    assert_eq!(fx.file(), BASE);
}

#[tokio::test]
async fn a_new_password_ends_the_old_sessions_without_a_restart() {
    let fx = fixture("attack_passwd");
    let s = fx.login().await;
    assert_eq!(fx.get("/global", &s).await.status, StatusCode::OK);
    // `piranha passwd` on the running tool (what the command does: an atomic rewrite).
    let new = "a brand new passphrase";
    auth::write_password_file(&fx.dir.join("piranha.passwd"), new).unwrap();
    let r = fx.get("/global", &s).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "the old session still works"
    );
    assert_eq!(r.location.as_deref(), Some("/login"));
    assert_eq!(
        login_from(&fx, "127.0.0.1:1", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "the old password still works"
    );
    assert_eq!(
        login_from(&fx, "127.0.0.1:1", new).await,
        StatusCode::SEE_OTHER
    );
    // A removed (or broken) file refuses every login, rather than keeping the old password.
    std::fs::write(fx.dir.join("piranha.passwd"), "piranha:\n").unwrap();
    assert_eq!(
        login_from(&fx, "127.0.0.2:1", new).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn hsts_under_tls_only() {
    let plain = fixture("attack_hsts_plain");
    let (_, h, _) = raw(
        &plain,
        Method::GET,
        "/login",
        "127.0.0.1:1",
        &[],
        Body::empty(),
    )
    .await;
    assert!(h.get("strict-transport-security").is_none());
    let tls = fixture_custom("attack_hsts_tls", Limits::default(), None, |c| {
        c.tls = Some((
            c.config_path.with_file_name("cert.pem"),
            c.config_path.with_file_name("key.pem"),
        ))
    });
    let (_, h, _) = raw(
        &tls,
        Method::GET,
        "/login",
        "127.0.0.1:1",
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(
        h.get("strict-transport-security")
            .map(|v| v.to_str().unwrap()),
        Some("max-age=31536000")
    );
}

/// A body that never sends a byte.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn huge_and_stalled_bodies_are_cut_off() {
    let limits = Limits {
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let fx = fixture_with("attack_bodies", limits, None);
    let ctype = (
        header::CONTENT_TYPE.as_str(),
        "application/x-www-form-urlencoded",
    );
    // A 1 MB password never reaches argon2.
    let form = enc(&[("username", "piranha"), ("password", &"x".repeat(1 << 20))]);
    let (status, _, _) = raw(
        &fx,
        Method::POST,
        "/login",
        "127.0.0.1:1",
        &[ctype],
        Body::from(form),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let start = std::time::Instant::now();
    let (status, _, _) = raw(
        &fx,
        Method::POST,
        "/login",
        "127.0.0.1:1",
        &[ctype],
        Body::new(Stalled),
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(start.elapsed() < Duration::from_secs(10));
    // Neither counted as a login attempt: the right password still gets in at once.
    assert_eq!(
        login_from(&fx, "127.0.0.1:1", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[tokio::test]
async fn a_save_keeps_a_nobody_0600_file_and_writes_through_a_symlink() {
    if !is_root() {
        let why = "SKIPPED: giving lvs.cf to nobody needs root";
        println!("{why}");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        return;
    }
    let fx = fixture("attack_owner");
    // lvs.cf -> real/lvs.cf, owned by nobody:nogroup, mode 0600.
    let real_dir = fx.dir.join("real");
    std::fs::create_dir_all(&real_dir).unwrap();
    let target = real_dir.join("lvs.cf");
    std::fs::rename(&fx.cf, &target).unwrap();
    std::os::unix::fs::symlink("real/lvs.cf", &fx.cf).unwrap();
    std::os::unix::fs::chown(&target, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = fx.login().await;
    let page = fx.get("/redundancy", &s).await;
    let values = with(&form_values(&page.body), &[("keepalive", "3")]);
    let preview = fx.post("/edit", &s, &refs(&values)).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let w = fx
        .post("/edit", &s, &refs(&form_values_confirm(&preview.body)))
        .await;
    assert_eq!(w.status, StatusCode::SEE_OTHER);
    let link = std::fs::symlink_metadata(&fx.cf).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    let m = std::fs::metadata(&target).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (65534, 65534, 0o600));
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .contains("keepalive = 3"));
    let b = std::fs::metadata(fx.backup()).unwrap();
    assert_eq!((b.uid(), b.gid(), b.mode() & 0o7777), (65534, 65534, 0o600));
    assert_eq!(std::fs::read_to_string(fx.backup()).unwrap(), BASE);
    // A dangling link is refused with a clear message and left as it is.
    std::fs::remove_file(&target).unwrap();
    let page = fx.get("/global", &s).await;
    assert_eq!(page.status, StatusCode::OK, "a missing file edits as empty");
    let values = with(&form_values(&page.body), &[("primary", "192.168.26.9")]);
    let preview = fx.post("/edit", &s, &refs(&values)).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let w = fx
        .post("/edit", &s, &refs(&form_values_confirm(&preview.body)))
        .await;
    assert_eq!(w.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        w.body
            .contains("is a symlink whose target cannot be resolved")
            && w.body.contains("nothing was written"),
        "{}",
        w.body
    );
    assert!(std::fs::symlink_metadata(&fx.cf)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!target.exists());
}

#[tokio::test]
async fn a_planted_session_cookie_is_never_adopted() {
    let fx = fixture("attack_fixation");
    let planted = format!("piranha_session={}", "ab".repeat(32));
    let form = enc(&[("username", "piranha"), ("password", PASSWORD)]);
    let (status, headers, _) = raw(
        &fx,
        Method::POST,
        "/login",
        "127.0.0.1:1",
        &[
            (
                header::CONTENT_TYPE.as_str(),
                "application/x-www-form-urlencoded",
            ),
            ("cookie", &planted),
        ],
        Body::from(form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        !set.contains(&"ab".repeat(32)),
        "the planted token was kept: {set}"
    );
    // The planted token opens nothing.
    let r = fx.send(Method::GET, "/global", Some(&planted), "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn header_injection_through_names_goes_nowhere() {
    let fx = fixture("attack_headers");
    let s = fx.login().await;
    let body = fx.get("/virtual", &s).await.body;
    let base = hidden(&body, "base");
    for op in ["delete-virtual", "toggle-virtual", "delete-server"] {
        let r = fx
            .post(
                "/edit",
                &s,
                &[
                    ("csrf", &s.csrf),
                    ("base", &base),
                    ("op", op),
                    ("vs", "http\r\nSet-Cookie: pwned=1"),
                    ("rs", "web1\r\nLocation: //evil.example"),
                ],
            )
            .await;
        assert!(r.cookie.is_none(), "{op}: a header was injected");
        assert!(
            r.location
                .as_deref()
                .is_none_or(|l| l.starts_with('/') && !l.starts_with("//")),
            "{op}: {:?}",
            r.location
        );
        // Refused as an unknown block (the name is only ever shown escaped in the page).
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{op}");
    }
    assert_eq!(fx.file(), BASE);
}
