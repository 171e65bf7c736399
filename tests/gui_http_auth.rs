//! HTTP-level tests of `piranha gui`'s access control (the axum Router driven with tower's
//! `oneshot`): no password file no start, every route and method refused without a session,
//! POSTs without the session's CSRF token change nothing, GET never writes, login rate
//! limiting, session expiry and logout.

mod gui_support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use gui_support::*;
use piranha_daemon::gui::{self, GuiConfig, Limits};
use tower::ServiceExt as _;

#[tokio::test]
async fn no_password_file_no_start() {
    let err = gui::router(GuiConfig {
        config_path: "lvs.cf".into(),
        passwd_file: "/nonexistent/piranha.passwd".into(),
        listen: gui::DEFAULT_LISTEN.parse().unwrap(),
        control_socket: "/nonexistent.sock".into(),
        tls: None,
        limits: Limits::default(),
        allowed_hosts: Vec::new(),
        edit_commands: false,
    })
    .expect_err("refuses to start");
    assert!(
        err.contains("piranha passwd --passwd-file /nonexistent/piranha.passwd"),
        "{err}"
    );
}

#[tokio::test]
async fn every_route_and_method_without_a_session_is_refused_and_changes_nothing() {
    let fx = fixture("unauthenticated");
    // A form that would be a valid confirmed save, were it authenticated.
    let s = fx.login().await;
    let page = fx.get("/global", &s).await;
    let good = with(
        &form_values(&page.body),
        &[("primary", "192.168.26.7"), ("confirm", "1")],
    );
    let body = enc(&refs(&good));
    let forged = format!("piranha_session={}", "a".repeat(64));
    for cookie in [None, Some(forged.as_str()), Some("piranha_session=")] {
        for path in PROTECTED {
            for m in METHODS {
                let method = Method::from_bytes(m.as_bytes()).unwrap();
                let r = fx.send(method.clone(), path, cookie, &body).await;
                let ok = match r.status {
                    StatusCode::SEE_OTHER => r.location.as_deref() == Some("/login"),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => true,
                    _ => false,
                };
                assert!(
                    ok,
                    "{m} {path} cookie {cookie:?}: {} {:?}",
                    r.status, r.location
                );
                assert!(r.cookie.is_none(), "{m} {path}: no cookie set");
            }
        }
    }
    assert_eq!(fx.file(), BASE);
    assert!(!fx.backup().exists());
    // The public routes stay public and harmless.
    let r = fx.send(Method::GET, "/login", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("name=\"password\""));
    let r = fx.send(Method::GET, "/static/app.js", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = fx.send(Method::DELETE, "/login", None, "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(fx.file(), BASE);
}

#[tokio::test]
async fn posts_without_the_right_csrf_token_change_nothing() {
    let fx = fixture("csrf");
    let s = fx.login().await;
    let other = fx.login().await;
    assert_ne!(s.csrf, other.csrf);
    let page = fx.get("/global", &s).await;
    let values = with(
        &form_values(&page.body),
        &[("primary", "192.168.26.7"), ("confirm", "1")],
    );
    let without: Vec<(String, String)> = values
        .iter()
        .filter(|(k, _)| k != "csrf")
        .cloned()
        .collect();
    let wrong = with(&values, &[("csrf", &"0".repeat(64))]);
    let others = with(&values, &[("csrf", &other.csrf)]);
    let mut doubled = values.clone();
    doubled.push(("csrf".into(), "x".into()));
    for form in [&without, &wrong, &others, &doubled] {
        let r = fx.post("/edit", &s, &refs(form)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    for (path, form) in [
        ("/control", vec![("op", "reload")]),
        ("/logout", vec![]),
        (
            "/edit",
            vec![("op", "delete-virtual"), ("vs", "http"), ("confirm", "1")],
        ),
    ] {
        let r = fx.post(path, &s, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Cross-origin POST with the right token is refused too.
    let resp = fx
        .app
        .clone()
        .oneshot(
            Request::post("/edit")
                .header(header::COOKIE, &s.cookie)
                .header(header::HOST, "127.0.0.1:3636")
                .header(header::ORIGIN, "http://evil.example")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(enc(&refs(&values))))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(fx.file(), BASE);
    assert!(!fx.backup().exists());
    // The session survived the forged logout.
    assert_eq!(fx.get("/global", &s).await.status, StatusCode::OK);
}

#[tokio::test]
async fn get_never_writes() {
    let fx = fixture("get_never_writes");
    let s = fx.login().await;
    for path in PROTECTED {
        let _ = fx.get(path, &s).await;
    }
    assert_eq!(fx.file(), BASE);
    assert!(!fx.backup().exists());
}

#[tokio::test]
async fn logins_are_rate_limited_per_address() {
    let limits = Limits {
        free_failures: 2,
        ..Limits::default()
    };
    let fx = fixture_with("ratelimit", limits, None);
    for _ in 0..3 {
        let r = fx
            .send(
                Method::POST,
                "/login",
                None,
                &enc(&[("username", "piranha"), ("password", "wrong")]),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.cookie.is_none());
    }
    // Now even the right password waits.
    let r = fx
        .send(
            Method::POST,
            "/login",
            None,
            &enc(&[("username", "piranha"), ("password", PASSWORD)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.cookie.is_none());
    let r = fx
        .send(
            Method::POST,
            "/login",
            None,
            &enc(&[("username", "root"), ("password", PASSWORD)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn sessions_expire_and_logout_ends_them() {
    let limits = Limits {
        session_idle: Duration::from_millis(300),
        ..Limits::default()
    };
    let fx = fixture_with("expiry", limits, None);
    let s = fx.login().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = fx.get("/", &s).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let s = fx.login().await;
    let r = fx.post("/logout", &s, &[("csrf", &s.csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(fx.get("/global", &s).await.status, StatusCode::SEE_OTHER);
}
