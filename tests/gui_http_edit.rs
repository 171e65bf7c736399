//! HTTP-level tests of `piranha gui`'s editing and monitoring: values are escaped, concurrent
//! edits are detected, invalid input is shown inline and writes nothing, saves are previewed,
//! atomic, validated and backed up; the control-socket client against a fake daemon.

mod gui_support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use gui_support::*;
use piranha_daemon::gui::Limits;

const XSS: &str = "<script>alert(1)</script>";

#[tokio::test]
async fn script_in_every_text_field_is_escaped_or_rejected() {
    let fx = fixture("xss");
    let s = fx.login().await;
    let pages = [
        "/global",
        "/redundancy",
        "/virtual/edit?vs=http",
        "/virtual/edit",
        "/virtual/scripts?vs=http",
        "/virtual/server?vs=http&rs=web1",
        "/virtual/server?vs=http",
    ];
    let mut fields_tried = 0;
    for page in pages {
        let keys: Vec<String> = form_values(&fx.get(page, &s).await.body)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| !["csrf", "base", "page", "op", "vs", "rs"].contains(&k.as_str()))
            .collect();
        for key in &keys {
            // Fresh each time: an accepted value changed the file (and its hash).
            let body = fx.get(page, &s).await.body;
            let values = form_values(&body);
            let form = with(&values, &[(key, XSS)]);
            let r = fx.post("/edit", &s, &refs(&form)).await;
            assert!(
                !r.body.contains("<script>"),
                "{page} {key}: raw script echoed"
            );
            assert!(
                r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::OK,
                "{page} {key}: {}",
                r.status
            );
            let checkbox = body.contains(&format!("type=\"checkbox\" id=\"f-{key}\""));
            if r.status == StatusCode::OK && checkbox {
                // A checkbox sends 1 or nothing: anything else reads as unchecked.
                assert!(r.body.contains("Write lvs.cf") || r.body.contains("Nothing would change"));
            } else if r.status == StatusCode::OK {
                // Accepted (a free-text key such as `send`): the preview shows it escaped.
                assert!(r.body.contains("&lt;script&gt;"), "{page} {key}");
                let confirm = form_values_confirm(&r.body);
                let w = fx.post("/edit", &s, &refs(&confirm)).await;
                assert_eq!(w.status, StatusCode::SEE_OTHER, "{page} {key}");
                let again = fx.get(page, &s).await;
                assert!(!again.body.contains("<script>"), "{page} {key}");
            }
            fields_tried += 1;
        }
    }
    assert!(fields_tried >= 45, "only {fields_tried} fields");
    // Also in query parameters and block names.
    let r = fx.get(&format!("/virtual/edit?vs={}", pct(XSS)), &s).await;
    assert!(!r.body.contains("<script>"));
    assert!(piranha_engine::config::parse("lvs.cf", fx.file().as_bytes()).is_ok());
}

#[tokio::test]
async fn a_concurrent_edit_on_disk_is_detected() {
    let fx = fixture("concurrent");
    let s = fx.login().await;
    let page = fx.get("/redundancy", &s).await;
    let values = with(&form_values(&page.body), &[("keepalive", "5")]);
    let edited = format!("{BASE}# edited by hand meanwhile\n");
    std::fs::write(&fx.cf, &edited).unwrap();
    let r = fx.post("/edit", &s, &refs(&values)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("changed on disk"));
    let mut confirm = values.clone();
    confirm.push(("confirm".into(), "1".into()));
    let r = fx.post("/edit", &s, &refs(&confirm)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(fx.file(), edited);
    assert!(!fx.backup().exists());
    // Previewed against the old file, then changed on disk, then confirmed: refused too.
    let page = fx.get("/redundancy", &s).await;
    let values = with(&form_values(&page.body), &[("keepalive", "5")]);
    let preview = fx.post("/edit", &s, &refs(&values)).await;
    assert_eq!(preview.status, StatusCode::OK);
    std::fs::write(&fx.cf, BASE).unwrap();
    let r = fx
        .post("/edit", &s, &refs(&form_values_confirm(&preview.body)))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(fx.file(), BASE);
}

#[tokio::test]
async fn invalid_input_shows_the_check_error_inline_and_writes_nothing() {
    let fx = fixture("invalid");
    let s = fx.login().await;
    let page = fx.get("/global", &s).await;
    let values = with(&form_values(&page.body), &[("primary", "10.0.0.300")]);
    let r = fx.post("/edit", &s, &refs(&values)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains(
            "<span class=\"field-error\">error: primary: expected an IPv4 or IPv6 address (or a host name), found `10.0.0.300`</span>"
        ),
        "{}",
        r.body
    );
    // The typed value is shown back for correction.
    assert!(r.body.contains("value=\"10.0.0.300\""));
    // A semantic error (a zero keepalive) lands on its field too.
    let page = fx.get("/redundancy", &s).await;
    let values = with(&form_values(&page.body), &[("keepalive", "0")]);
    let r = fx.post("/edit", &s, &refs(&values)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body
            .contains("field-error\">error: keepalive must be greater than 0"),
        "{}",
        r.body
    );
    let mut confirm = values.clone();
    confirm.push(("confirm".into(), "1".into()));
    assert_eq!(
        fx.post("/edit", &s, &refs(&confirm)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(fx.file(), BASE);
    assert!(!fx.backup().exists());
}

#[tokio::test]
async fn a_valid_save_previews_then_writes_atomically_with_a_backup() {
    let fx = fixture("save");
    let s = fx.login().await;
    let page = fx.get("/redundancy", &s).await;
    let values = with(
        &form_values(&page.body),
        &[("keepalive", "3"), ("failback", "1")],
    );
    let preview = fx.post("/edit", &s, &refs(&values)).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(preview.body.contains("-keepalive = 6"), "{}", preview.body);
    assert!(preview.body.contains("+keepalive = 3"));
    assert!(preview.body.contains("+failback = 1"));
    assert!(preview.body.contains("-serial_no = 42"));
    assert!(preview.body.contains("+serial_no = 43"));
    assert_eq!(fx.file(), BASE, "the preview writes nothing");
    let w = fx
        .post("/edit", &s, &refs(&form_values_confirm(&preview.body)))
        .await;
    assert_eq!(w.status, StatusCode::SEE_OTHER);
    assert_eq!(w.location.as_deref(), Some("/redundancy"));
    let new = fx.file();
    let cfg = piranha_engine::config::parse("lvs.cf", new.as_bytes())
        .unwrap()
        .config;
    assert_eq!(cfg.serial_no, 43);
    assert_eq!(cfg.keepalive.as_secs(), 3);
    assert!(cfg.failback);
    assert_eq!(std::fs::read_to_string(fx.backup()).unwrap(), BASE);
    for p in [&fx.cf, &fx.backup()] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{}", p.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&fx.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The flash says what happened, once.
    let page = fx.get("/redundancy", &s).await;
    assert!(page.body.contains("serial_no 43"));
    assert!(!fx
        .get("/redundancy", &s)
        .await
        .body
        .contains("serial_no 43)"));
    // Replaying the same confirm is refused: the file it was based on is gone.
    let again = fx
        .post("/edit", &s, &refs(&form_values_confirm(&preview.body)))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn virtual_and_real_servers_are_added_toggled_and_deleted() {
    let fx = fixture("blocks");
    let s = fx.login().await;
    let save = |page: String, changes: Vec<(&'static str, &'static str)>| {
        let fx = &fx;
        let s = &s;
        async move {
            let body = fx.get(&page, s).await.body;
            let values = with(&form_values(&body), &changes);
            let preview = fx.post("/edit", s, &refs(&values)).await;
            assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
            let w = fx
                .post("/edit", s, &refs(&form_values_confirm(&preview.body)))
                .await;
            assert_eq!(w.status, StatusCode::SEE_OTHER);
        }
    };
    save(
        "/virtual/edit".into(),
        vec![
            ("name", "dns"),
            ("address", "192.168.26.11 eth0:2"),
            ("port", "53"),
            ("protocol", "udp"),
            ("active", "1"),
        ],
    )
    .await;
    save(
        "/virtual/server?vs=dns".into(),
        vec![("name", "ns1"), ("address", "10.11.12.5"), ("active", "1")],
    )
    .await;
    save(
        "/virtual/server?vs=dns".into(),
        vec![("name", "ns2"), ("address", "10.11.12.6"), ("weight", "3")],
    )
    .await;
    let cfg = piranha_engine::config::parse("f", fx.file().as_bytes())
        .unwrap()
        .config;
    let dns = cfg.virtual_server("dns").unwrap();
    assert_eq!(dns.servers.len(), 2);
    assert_eq!(dns.servers[1].weight, 3);
    assert_eq!(cfg.serial_no, 45);
    // Deactivate web1, delete ftp: each through the preview.
    for (op, vs, rs) in [
        ("toggle-server", "http", "web1"),
        ("delete-virtual", "ftp", ""),
    ] {
        let base = hidden(&fx.get("/virtual", &s).await.body, "base");
        let preview = fx
            .post(
                "/edit",
                &s,
                &[
                    ("csrf", &s.csrf),
                    ("base", &base),
                    ("op", op),
                    ("vs", vs),
                    ("rs", rs),
                ],
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{op}");
        let w = fx
            .post("/edit", &s, &refs(&form_values_confirm(&preview.body)))
            .await;
        assert_eq!(w.status, StatusCode::SEE_OTHER, "{op}");
    }
    let cfg = piranha_engine::config::parse("f", fx.file().as_bytes())
        .unwrap()
        .config;
    assert!(!cfg.virtual_server("http").unwrap().servers[0].active);
    assert!(cfg.virtual_server("ftp").is_none());
    assert_eq!(cfg.serial_no, 47);
}

/// A fake daemon on a unix socket: answers each request line from `answer`, records requests.
async fn fake_daemon(
    path: PathBuf,
    answer: fn(&serde_json::Value) -> String,
) -> std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for _ in 0..1000 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            tokio::io::BufReader::new(r)
                .read_line(&mut line)
                .await
                .unwrap();
            let req: serde_json::Value = serde_json::from_str(&line).unwrap();
            let reply = answer(&req);
            log.lock().unwrap().push(req);
            w.write_all(reply.as_bytes()).await.unwrap();
            w.write_all(b"\n").await.unwrap();
        }
    });
    seen
}

fn fake_answer(req: &serde_json::Value) -> String {
    match req["cmd"].as_str().unwrap() {
        "status" => serde_json::json!({
            "result": "status", "role": "primary", "active": true, "peer": "standby",
            "last_change": {"at_s": 12.0, "why": "took over: <script>alert(1)</script>"},
            "config_file": "/etc/sysconfig/ha/lvs.cf", "serial_no": 42, "uptime_s": 99.5,
            "heartbeats_accepted": 7, "heartbeats_rejected": 1,
            "virtuals": [{"name": "http", "service": "TCP 192.168.26.10:80", "active": true,
                "servers": [
                    {"name": "web1", "address": "10.11.12.1:80", "health": "up", "drained": false,
                     "in_table": true, "weight": 1, "active_conns": 17, "inactive_conns": 4},
                    {"name": "<script>x</script>", "address": "10.11.12.2:80", "health": "<b>",
                     "drained": true, "in_table": true, "weight": 0, "active_conns": 0, "inactive_conns": 9}]}]
        })
        .to_string(),
        "drain" | "enable" => r#"{"result":"ok","message":"drained web1"}"#.to_string(),
        _ => r#"{"result":"error","message":"lvs.cf:3:1: error: nope"}"#.to_string(),
    }
}

#[tokio::test]
async fn monitoring_and_control_talk_to_the_daemon() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui_http_sock");
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("control.sock");
    let seen = fake_daemon(sock.clone(), fake_answer).await;
    let fx = fixture_with("control", Limits::default(), Some(sock));
    let s = fx.login().await;
    let page = fx.get("/", &s).await;
    assert!(page.body.contains("id=\"status\" data-src=\"/status\""));
    let frag = fx.get("/status", &s).await;
    assert_eq!(frag.status, StatusCode::OK);
    for want in [
        "primary",
        "standby",
        "TCP 192.168.26.10:80",
        "web1",
        ">17<",
        ">9<",
        "Drain",
        "Enable",
    ] {
        assert!(frag.body.contains(want), "{want} in {}", frag.body);
    }
    assert!(!frag.body.contains("<script>") && !frag.body.contains("<b>"));
    assert!(frag.body.contains("&lt;script&gt;x&lt;/script&gt;"));
    let r = fx
        .post(
            "/control",
            &s,
            &[
                ("csrf", &s.csrf),
                ("op", "drain"),
                ("vs", "http"),
                ("rs", "web1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = fx
        .post("/control", &s, &[("csrf", &s.csrf), ("op", "reload")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = fx.get("/", &s).await;
    assert!(
        page.body
            .contains("Daemon refused: lvs.cf:3:1: error: nope"),
        "{}",
        page.body
    );
    let seen: Vec<String> = seen.lock().unwrap().iter().map(|v| v.to_string()).collect();
    assert!(
        seen.contains(&r#"{"cmd":"drain","server":"web1","virtual":"http"}"#.to_string()),
        "{seen:?}"
    );
    assert!(seen.contains(&r#"{"cmd":"reload"}"#.to_string()));
    // Without a daemon: said plainly, and the file can still be edited.
    let fx = fixture("no_daemon");
    let s = fx.login().await;
    let page = fx.get("/", &s).await;
    assert!(page.body.contains("daemon-down"));
    assert!(page.body.contains("You can still edit lvs.cf"));
}

/// A file still being written (no `primary`, a virtual server without `address`) loads, so
/// the tool can finish it.
#[tokio::test]
async fn an_incomplete_file_loads_for_editing() {
    let fx = fixture("incomplete");
    std::fs::write(
        &fx.cf,
        "keepalive = 6\ndeadtime = 18\nvirtual web {\n     port = 80\n}\n",
    )
    .unwrap();
    let s = fx.login().await;
    for page in ["/global", "/virtual/edit?vs=web"] {
        let r = fx.get(page, &s).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.body);
        let keys: Vec<String> = form_values(&r.body).into_iter().map(|(k, _)| k).collect();
        assert!(
            keys.iter().any(|k| k == "primary" || k == "port"),
            "{page}: {keys:?}"
        );
    }
}
