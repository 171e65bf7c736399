//! `piranha gui`: the Piranha Configuration Tool, rebuilt — watch the director through the
//! control socket, edit lvs.cf safely, drain/enable real servers, reload the daemon.
//!
//! Security (each point a lesson from the original's CVEs): no default password (the tool
//! refuses to start without a password file); one middleware in front of every route demands a
//! session for every method except on `/login` and `/static/`; sessions are random 256-bit
//! tokens in HttpOnly SameSite=Strict cookies with idle and absolute expiry; every POST carries
//! the session's CSRF token (checked in the same middleware, constant-time); GET never writes;
//! maud escapes all output; every value is validated by the engine's lvs.cf parser; no shell.
//! Under attack (issue 13): logins are reserved in the limiter before argon2 runs, on a fixed
//! pool of verify threads; requests must name the tool (`hosts`, against DNS rebinding); the
//! listener (`net`) closes slow and idle clients and caps connections; the keys the daemon runs
//! as root are read-only without `--edit-commands`; saves keep owner, group, mode and symlinks;
//! a changed password file ends every session; HSTS under TLS. See docs/GUI.md.

pub mod auth;
pub mod edit;
mod editing;
pub mod fields;
mod handlers;
pub mod hosts;
mod net;
pub mod pages;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::Router;

pub use auth::Limits;

/// Everything `piranha gui` is told on its command line.
#[derive(Clone, Debug)]
pub struct GuiConfig {
    /// The lvs.cf edited.
    pub config_path: PathBuf,
    /// The password file written by `piranha passwd`.
    pub passwd_file: PathBuf,
    /// Where to listen [127.0.0.1:3636].
    pub listen: SocketAddr,
    /// The running daemon's control socket.
    pub control_socket: PathBuf,
    /// TLS certificate chain and key (PEM); plain HTTP when `None`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Session, login and connection limits.
    pub limits: Limits,
    /// Host names answered to besides the defaults (`--allow-host`), see [`hosts`].
    pub allowed_hosts: Vec<String>,
    /// Whether the keys whose values the daemon runs as root (`active_cmd`, `send_program`,
    /// ...: [`fields::COMMAND_KEYS`]) may be changed in the tool (`--edit-commands`).
    pub edit_commands: bool,
}

/// The default listening address, as the original's port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3636";

/// Shared state of the running tool.
pub(crate) struct App {
    pub cfg: GuiConfig,
    /// The password file, re-read when it changes.
    pub password: Mutex<auth::PasswordFile>,
    /// The password verify threads (argon2 takes 19 MiB each).
    pub verifier: auth::Verifier,
    /// The names the tool answers to.
    pub hosts: hosts::HostAllowlist,
    pub sessions: Mutex<auth::Sessions>,
    pub limiter: Mutex<auth::LoginLimiter>,
    /// Serialises writes of lvs.cf by this process.
    pub write_lock: tokio::sync::Mutex<()>,
    /// Cookies get `Secure` (TLS).
    pub secure: bool,
}

/// Build the application. Fails (saying how to fix it) when there is no usable password file.
pub fn router(cfg: GuiConfig) -> Result<Router, String> {
    let password = auth::PasswordFile::open(&cfg.passwd_file)?;
    let cert_names = match &cfg.tls {
        Some((cert, _)) => hosts::certificate_names(cert),
        None => Vec::new(),
    };
    let app = Arc::new(App {
        secure: cfg.tls.is_some(),
        password: Mutex::new(password),
        verifier: auth::Verifier::new(cfg.limits.concurrent_verifies, cfg.limits.queued_verifies),
        hosts: hosts::HostAllowlist::new(&cfg.allowed_hosts, &cert_names),
        cfg,
        sessions: Mutex::new(auth::Sessions::default()),
        limiter: Mutex::new(auth::LoginLimiter::default()),
        write_lock: tokio::sync::Mutex::new(()),
    });
    Ok(Router::new()
        .route("/login", get(handlers::login_form).post(handlers::login))
        .route("/static/app.js", get(handlers::app_js))
        .route("/static/style.css", get(handlers::style_css))
        .route("/logout", post(handlers::logout))
        .route("/", get(handlers::control_page))
        .route("/status", get(handlers::status))
        .route("/control", post(handlers::control))
        .route("/global", get(editing::global_page))
        .route("/redundancy", get(editing::redundancy_page))
        .route("/virtual", get(editing::virtual_list))
        .route("/virtual/edit", get(editing::virtual_page))
        .route("/virtual/scripts", get(editing::scripts_page))
        .route("/virtual/server", get(editing::server_page))
        .route("/edit", post(editing::edit))
        .fallback(handlers::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            handlers::guard,
        ))
        .with_state(app))
}

/// Serve until the process is stopped.
pub async fn serve(cfg: GuiConfig) -> Result<(), String> {
    let listen = cfg.listen;
    let tls = cfg.tls.clone();
    if tls.is_none() && !listen.ip().is_loopback() {
        eprintln!(
            "WARNING: piranha gui serves plain HTTP on {listen}, a non-loopback address: \
             passwords and session cookies cross the network in clear text. \
             Use --tls-cert/--tls-key, or listen on 127.0.0.1 and tunnel (ssh -L 3636:127.0.0.1:3636)."
        );
    }
    let limits = cfg.limits.clone();
    let app = router(cfg)?;
    let acceptor = match tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .map_err(|e| {
                    format!(
                        "cannot load TLS certificate {} / key {}: {e}",
                        cert.display(),
                        key.display()
                    )
                })?;
            // The server config carries ALPN `h2` and `http/1.1`.
            Some(tokio_rustls::TlsAcceptor::from(tls.get_inner()))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    eprintln!("piranha gui: listening on {scheme}://{listen}/");
    net::serve(listener, app, acceptor, limits)
        .await
        .map_err(|e| format!("cannot serve on {listen}: {e}"))
}

/// Run [`serve`] on a new tokio runtime (for the command line).
pub fn run(cfg: GuiConfig) -> Result<(), String> {
    // Check the password file before anything else, so the refusal is the first thing said.
    auth::read_password_file(&cfg.passwd_file)?;
    if let Ok(meta) = std::fs::metadata(&cfg.passwd_file) {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "WARNING: {} is readable by others (mode {:o}): chmod 600 it",
                cfg.passwd_file.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(serve(cfg))
}
