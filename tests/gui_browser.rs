//! `piranha gui` in a real browser: Debian's headless chromium driven through chromedriver
//! (WebDriver) with fantoccini. Logs in, adds a virtual server with two real servers (each
//! save previewed as a diff, then confirmed), and `piranha check` accepts the written file.
//! Screenshots go to target/tmp/gui_browser/ (one is copied to docs/ by hand).
//!
//! Needs the apt packages `chromium` and `chromium-driver`. Without them the test prints
//! `SKIPPED: …` and passes, unless the environment variable CI is set (then it fails).

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const PASSWORD: &str = "browser test password";
const BASE: &str = include_str!("corpus/gui_two_routers.cf");
const WAIT: Duration = Duration::from_secs(20);

/// Kills the child (by its pid) when dropped, whatever happened.
struct Killer(Child, &'static str);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        eprintln!("stopped {} (pid {})", self.1, self.0.id());
    }
}

/// Safety net for a run that dies before the WebDriver session is closed: kills (by pid) any
/// browser process still using this run's own profile directory.
struct ProfileReaper(PathBuf);

impl Drop for ProfileReaper {
    fn drop(&mut self) {
        let needle = format!("--user-data-dir={}", self.0.display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline)
                .split('\0')
                .any(|a| a == needle)
            {
                let _ = Command::new("kill").arg(pid).status();
            }
        }
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait (bounded) until something accepts TCP connections on `port`.
fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on {port} within {WAIT:?}");
}

async fn css(c: &Client, sel: &str) -> fantoccini::elements::Element {
    match c.wait().at_most(WAIT).for_element(Locator::Css(sel)).await {
        Ok(e) => e,
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string());
            let src = c.source().await.unwrap_or_default();
            panic!("no {sel}: {e}; at {url:?}:\n{src}")
        }
    }
}

async fn fill(c: &Client, sel: &str, text: &str) {
    let e = css(c, sel).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn shot(c: &Client, dir: &Path, name: &str) -> PathBuf {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let p = dir.join(name);
    std::fs::write(&p, png).unwrap();
    p
}

/// Preview the form's change, check the diff shows `want`, confirm.
async fn preview_and_confirm(c: &Client, dir: &Path, want: &str, screenshot: Option<&str>) {
    css(c, "#preview").await.click().await.unwrap();
    let diff = css(c, "#diff").await.text().await.unwrap();
    assert!(diff.contains(want), "diff lacks {want:?}:\n{diff}");
    assert!(diff.contains("+serial_no = "), "{diff}");
    if let Some(name) = screenshot {
        shot(c, dir, name).await;
    }
    css(c, "#confirm").await.click().await.unwrap();
    let flash = css(c, "#flash").await.text().await.unwrap();
    assert!(flash.contains("Saved"), "{flash}");
}

#[tokio::test]
async fn browser_adds_a_virtual_server_with_two_real_servers() {
    let (Some(chromium), Some(driver)) = (
        find_program(&["chromium", "chromium-browser"]),
        find_program(&["chromedriver"]),
    ) else {
        let why = "SKIPPED: chromium and chromedriver are not installed (apt packages chromium chromium-driver)";
        println!("{why}");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        return;
    };
    let bin = env!("CARGO_BIN_EXE_piranha");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui_browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cf = dir.join("lvs.cf");
    std::fs::write(&cf, BASE).unwrap();
    let pw = dir.join("piranha.passwd");

    // piranha passwd, fed on stdin.
    let mut passwd = Command::new(bin)
        .args(["passwd", "--passwd-file"])
        .arg(&pw)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(passwd.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(passwd.wait().unwrap().success());

    let gui_port = free_port();
    let mut gui = Command::new(bin)
        .args(["gui", "-c"])
        .arg(&cf)
        .arg("--passwd-file")
        .arg(&pw)
        .args(["--listen", &format!("127.0.0.1:{gui_port}")])
        .arg("--control-socket")
        .arg(fake_daemon(&dir))
        .stderr(std::fs::File::create(dir.join("gui.stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(gui_port, "piranha gui", &mut gui);
    let _gui = Killer(gui, "piranha gui");

    let driver_port = free_port();
    let mut chromedriver = Command::new(driver)
        .arg(format!("--port={driver_port}"))
        .stdout(std::fs::File::create(dir.join("chromedriver.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(driver_port, "chromedriver", &mut chromedriver);
    let _driver = Killer(chromedriver, "chromedriver");

    let profile = dir.join(format!("chromium-profile-{}", std::process::id()));
    let _reaper = ProfileReaper(profile.clone());
    let caps: fantoccini::wd::Capabilities = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,1100",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    }))
    .unwrap();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = tokio::time::timeout(
        WAIT,
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{driver_port}")),
    )
    .await
    .expect("chromedriver answers in time")
    .expect("a browser session");
    // In its own task, so that a failed assertion still lets us close the browser.
    let run = {
        let (client, dir) = (client.clone(), dir.clone());
        tokio::spawn(async move { drive(&client, gui_port, &dir).await })
    };
    let result = tokio::time::timeout(Duration::from_secs(120), run).await;
    let _ = client.close().await;
    match result {
        Err(_) => panic!("the browser run did not finish within 120 s"),
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(r) => r.expect("the browser run"),
    }

    // The file written through the browser is accepted by `piranha check`.
    let out = Command::new(bin)
        .args(["check", "-c"])
        .arg(&cf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("3 virtual servers, 5 real servers"),
        "{stdout}"
    );
    let cfg = piranha_engine::config::parse("lvs.cf", std::fs::read(&cf).unwrap().as_slice())
        .unwrap()
        .config;
    assert_eq!(cfg.serial_no, 45, "three saves");
    let smtp = cfg.virtual_server("smtp").unwrap();
    assert!(smtp.active);
    assert_eq!(smtp.port, 25);
    assert_eq!(smtp.scheduler.as_str(), "rr");
    let names: Vec<&str> = smtp.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["mx1", "mx2"]);
    assert_eq!(smtp.servers[1].weight, 2);
    assert_eq!(
        std::fs::read_to_string(dir.join("lvs.cf.bak"))
            .unwrap()
            .lines()
            .next(),
        Some("serial_no = 44")
    );
}

/// A stand-in for `piranha pulse` on a unix socket: its status changes on every request (the
/// connection counts grow), so the page's polling is visible.
fn fake_daemon(dir: &Path) -> PathBuf {
    use std::io::{BufRead as _, BufReader};
    use std::os::unix::net::UnixListener;
    let path = dir.join("control.sock");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for n in 0..10_000u32 {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let req: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let reply = match req["cmd"].as_str() {
                Some("status") => serde_json::json!({
                    "result": "status", "role": "primary", "active": true, "peer": "standby",
                    "last_change": {"at_s": 3.0, "why": "took over: PeerDead(Deadtime)"},
                    "config_file": "/etc/sysconfig/ha/lvs.cf", "serial_no": 42,
                    "uptime_s": 60.0 + f64::from(n), "heartbeats_accepted": 30 + n,
                    "heartbeats_rejected": 0,
                    "virtuals": [{"name": "http", "service": "TCP 192.168.26.10:80", "active": true,
                        "servers": [
                            {"name": "web1", "address": "10.11.12.1:80", "health": "up",
                             "drained": false, "in_table": true, "weight": 1,
                             "active_conns": 10 + n, "inactive_conns": 40 + 2 * n},
                            {"name": "web2", "address": "10.11.12.2:80", "health": "up",
                             "drained": n > 0, "in_table": true, "weight": if n > 0 { 0 } else { 2 },
                             "active_conns": 7, "inactive_conns": 31}]},
                        {"name": "ftp", "service": "TCP 192.168.26.10:21", "active": false,
                         "servers": [{"name": "ftp1", "address": "10.11.12.3:21", "health": "inactive",
                             "drained": false, "in_table": false, "weight": 0,
                             "active_conns": 0, "inactive_conns": 0}]}]
                }),
                Some(op @ ("drain" | "enable")) => serde_json::json!({
                    "result": "ok",
                    "message": format!("{} {op}: done", req["server"].as_str().unwrap_or("?"))
                }),
                _ => serde_json::json!({"result": "error", "message": "not supported here"}),
            };
            let mut w = &stream;
            let _ = writeln!(w, "{reply}");
        }
    });
    path
}

async fn drive(c: &Client, port: u16, dir: &Path) {
    let base = format!("http://127.0.0.1:{port}");
    // Not logged in: sent to the login page.
    c.goto(&format!("{base}/virtual")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    fill(c, "input[name=password]", "wrong password").await;
    css(c, "#login").await.click().await.unwrap();
    let err = css(c, "p.error").await.text().await.unwrap();
    assert!(err.contains("Wrong user name or password"), "{err}");
    fill(c, "input[name=password]", PASSWORD).await;
    css(c, "#login").await.click().await.unwrap();
    // CONTROL/MONITORING: live status, refreshed in place by app.js.
    let status = css(c, "#status").await;
    let first = status.text().await.unwrap();
    assert!(
        first.contains("web1") && first.contains("primary"),
        "{first}"
    );
    let start = Instant::now();
    let mut now = first.clone();
    while now == first && start.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        now = status.text().await.unwrap();
    }
    assert_ne!(now, first, "the status did not refresh within 15 s");
    // Drain a real server through the control socket.
    css(c, "#status form button").await;
    c.find(Locator::XPath("//tr[td='web2']//button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = css(c, "#flash").await.text().await.unwrap();
    assert!(flash.starts_with("Daemon: web2 "), "{flash}");
    shot(c, dir, "control-monitoring.png").await;

    // VIRTUAL SERVERS → add one.
    c.goto(&format!("{base}/virtual")).await.unwrap();
    css(c, "#add-virtual").await.click().await.unwrap();
    fill(c, "#f-name", "smtp").await;
    css(c, "#f-active").await.click().await.unwrap();
    fill(c, "#f-address", "192.168.26.12 eth0:3").await;
    fill(c, "#f-port", "25").await;
    css(c, "#f-scheduler option[value=rr]")
        .await
        .click()
        .await
        .unwrap();
    // A mistake first: shown next to its field, nothing written.
    fill(c, "#f-vip_nmask", "255.255.0.255").await;
    css(c, "#preview").await.click().await.unwrap();
    let e = css(c, "tr.invalid .field-error")
        .await
        .text()
        .await
        .unwrap();
    assert!(e.starts_with("error: vip_nmask"), "{e}");
    fill(c, "#f-vip_nmask", "255.255.255.0").await;
    preview_and_confirm(c, dir, "+virtual smtp {", Some("preview-virtual.png")).await;

    for (name, addr, weight) in [("mx1", "10.11.12.21", "1"), ("mx2", "10.11.12.22", "2")] {
        css(c, "#add-server").await.click().await.unwrap();
        fill(c, "#f-name", name).await;
        fill(c, "#f-address", addr).await;
        fill(c, "#f-weight", weight).await;
        css(c, "#f-active").await.click().await.unwrap();
        preview_and_confirm(c, dir, &format!("+     server {name} {{"), None).await;
    }
    let servers = css(c, "#servers").await.text().await.unwrap();
    assert!(
        servers.contains("mx1") && servers.contains("mx2"),
        "{servers}"
    );
    shot(c, dir, "virtual-server.png").await;
    c.goto(&format!("{base}/virtual")).await.unwrap();
    css(c, "#virtuals").await;
    shot(c, dir, "virtual-servers.png").await;
}

/// Issue 13: over TLS a browser speaks HTTP/2, which sends `:authority` and no `Host`; the
/// Origin check used to compare with the missing Host and refused every login. Here Chromium
/// logs in and saves an edit over TLS, the page really came over `h2`, the root-run command
/// fields are read-only, and a DNS-rebound name is refused.
#[tokio::test]
async fn browser_logs_in_and_edits_over_tls_with_http2() {
    let (Some(chromium), Some(driver)) = (
        find_program(&["chromium", "chromium-browser"]),
        find_program(&["chromedriver"]),
    ) else {
        let why = "SKIPPED: chromium and chromedriver are not installed (apt packages chromium chromium-driver)";
        println!("{why}");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        return;
    };
    let bin = env!("CARGO_BIN_EXE_piranha");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui_browser_tls");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cf = dir.join("lvs.cf");
    std::fs::write(&cf, BASE).unwrap();
    let pw = dir.join("piranha.passwd");
    piranha_daemon::gui::auth::write_password_file(&pw, PASSWORD).unwrap();
    // The certificate names the director: that name is then allowed without --allow-host.
    let ck = rcgen::generate_simple_self_signed(vec!["director.test".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();

    let gui_port = free_port();
    let mut gui = Command::new(bin)
        .args(["gui", "-c"])
        .arg(&cf)
        .arg("--passwd-file")
        .arg(&pw)
        .args(["--listen", &format!("127.0.0.1:{gui_port}")])
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"))
        .arg("--control-socket")
        .arg(fake_daemon(&dir))
        .stderr(std::fs::File::create(dir.join("gui.stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(gui_port, "piranha gui", &mut gui);
    let _gui = Killer(gui, "piranha gui");

    let driver_port = free_port();
    let mut chromedriver = Command::new(driver)
        .arg(format!("--port={driver_port}"))
        .stdout(std::fs::File::create(dir.join("chromedriver.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(driver_port, "chromedriver", &mut chromedriver);
    let _driver = Killer(chromedriver, "chromedriver");

    let profile = dir.join(format!("chromium-profile-{}", std::process::id()));
    let _reaper = ProfileReaper(profile.clone());
    let caps: fantoccini::wd::Capabilities = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,1100",
                // The test's self-signed certificate; both names lead to the loopback tool.
                "--ignore-certificate-errors",
                "--host-resolver-rules=MAP director.test 127.0.0.1, MAP rebind.test 127.0.0.1",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    }))
    .unwrap();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = tokio::time::timeout(
        WAIT,
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{driver_port}")),
    )
    .await
    .expect("chromedriver answers in time")
    .expect("a browser session");
    let run = {
        let (client, dir) = (client.clone(), dir.clone());
        tokio::spawn(async move { drive_tls(&client, gui_port, &dir).await })
    };
    let result = tokio::time::timeout(Duration::from_secs(120), run).await;
    let _ = client.close().await;
    match result {
        Err(_) => panic!("the browser run did not finish within 120 s"),
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(r) => r.expect("the browser run"),
    }
    let cfg = piranha_engine::config::parse("lvs.cf", std::fs::read(&cf).unwrap().as_slice())
        .unwrap()
        .config;
    assert_eq!(cfg.serial_no, 43, "one save over TLS");
    assert_eq!(cfg.tcp_timeout.as_secs(), 120);
}

async fn protocol(c: &Client) -> String {
    c.execute(
        "return performance.getEntriesByType('navigation')[0].nextHopProtocol",
        vec![],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap_or_default()
    .to_string()
}

async fn drive_tls(c: &Client, port: u16, dir: &Path) {
    let base = format!("https://director.test:{port}");
    c.goto(&format!("{base}/login")).await.unwrap();
    assert_eq!(
        protocol(c).await,
        "h2",
        "the login page did not come over HTTP/2"
    );
    fill(c, "input[name=password]", PASSWORD).await;
    css(c, "#login").await.click().await.unwrap();
    // Logged in (the POST was not refused as cross-origin): CONTROL/MONITORING.
    let status = css(c, "#status").await.text().await.unwrap();
    assert!(status.contains("web1"), "{status}");
    assert_eq!(protocol(c).await, "h2");
    c.goto(&format!("{base}/global")).await.unwrap();
    let active_cmd = css(c, "#f-active_cmd").await;
    assert!(
        active_cmd.attr("readonly").await.unwrap().is_some(),
        "active_cmd is editable without --edit-commands"
    );
    fill(c, "#f-tcp_timeout", "120").await;
    preview_and_confirm(c, dir, "+tcp_timeout = 120", None).await;
    shot(c, dir, "tls-saved.png").await;
    // The same tool under a name that is not its own (DNS rebinding): refused.
    c.goto(&format!("https://rebind.test:{port}/login"))
        .await
        .unwrap();
    let body = c.source().await.unwrap();
    assert!(body.contains("is not a name of this tool"), "{body}");
    assert!(
        !body.contains("password"),
        "the login page was served: {body}"
    );
}
