//! `piranha gui` over TLS (rustls): a self-signed certificate made for the test, a real TLS
//! client that trusts only it, the session cookie gets the `Secure` flag, answers carry HSTS,
//! and a foreign Host is refused. (Chromium over HTTP/2: gui_browser.rs.)

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use piranha_daemon::gui::{self, auth, GuiConfig, Limits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const PASSWORD: &str = "tls test password";

async fn https(port: u16, roots: &rustls::RootCertStore, request: &str) -> std::io::Result<String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut out))
        .await
        .map_err(|_| std::io::Error::other("no answer in 10 s"))?
        .or_else(|e| {
            // Some servers close without close_notify; what was read is still the answer.
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Ok(0)
            } else {
                Err(e)
            }
        })?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn serves_https_with_secure_cookies() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui_tls");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    std::fs::write(
        dir.join("lvs.cf"),
        include_str!("corpus/gui_two_routers.cf"),
    )
    .unwrap();
    auth::write_password_file(&dir.join("passwd"), PASSWORD).unwrap();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = tokio::spawn(gui::serve(GuiConfig {
        config_path: dir.join("lvs.cf"),
        passwd_file: dir.join("passwd"),
        listen,
        control_socket: dir.join("none.sock"),
        tls: Some((dir.join("cert.pem"), dir.join("key.pem"))),
        limits: Limits::default(),
        allowed_hosts: Vec::new(),
        edit_commands: false,
    }));

    let start = Instant::now();
    let first = loop {
        match https(
            port,
            &roots,
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await
        {
            Ok(r) => break r,
            Err(e) if start.elapsed() < Duration::from_secs(20) => {
                assert!(!server.is_finished(), "server stopped: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no TLS answer within 20 s: {e}"),
        }
    };
    assert!(first.starts_with("HTTP/1.1 303"), "{first}");
    assert!(
        first.to_ascii_lowercase().contains("location: /login"),
        "{first}"
    );

    let body = format!("username=piranha&password={}", PASSWORD.replace(' ', "+"));
    let login = https(
        port,
        &roots,
        &format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
    .unwrap();
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let cookie = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie in {login}"));
    for flag in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(
        login
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "no HSTS under TLS: {login}"
    );
    // A name that is not the tool's (DNS rebinding) is refused over TLS as well.
    let rebound = https(
        port,
        &roots,
        "GET /login HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    server.abort();
}
