//! `piranha status --watch [--interval SECS] [--count N]`: the status report, refreshed in
//! place like `watch ipvsadm -Ln`. On a terminal each refresh clears the screen and starts with
//! a header; elsewhere (a pipe, a log) frames follow one another, each after its header line,
//! so the output stays readable. A daemon that does not answer is shown as such and the watch
//! goes on (a restart becomes visible). Ctrl-C (SIGINT) or SIGTERM ends it with status 0;
//! `--count` bounds it.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use piranha_daemon::control::{Request, Response};
use piranha_daemon::control_client;

/// Shortest refresh interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How long one refresh waits for the daemon.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// Clear the screen and home the cursor (VT100).
const CLEAR: &str = "\x1b[H\x1b[2J";

/// One frame's body: the report as a table or JSON, or why there is none.
async fn frame(socket: &Path, json: bool) -> String {
    match control_client::call_within(socket, &Request::Status, ASK_TIMEOUT).await {
        Ok(Response::Status(report)) if json => {
            serde_json::to_string(&report).unwrap_or_else(|e| e.to_string()) + "\n"
        }
        Ok(Response::Status(report)) => piranha_daemon::status::render(&report),
        Ok(Response::Error { message }) => format!("piranha: {message}\n"),
        Ok(Response::Ok { message }) => format!("{message}\n"),
        Err(e) => format!("cannot reach piranha pulse at {}: {e}\n", socket.display()),
    }
}

/// Refresh every `interval` until Ctrl-C, SIGTERM or `count` frames.
pub fn run(
    socket: &Path,
    json: bool,
    interval: Duration,
    count: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let interval = interval.max(MIN_INTERVAL);
    let tty = std::io::stdout().is_terminal();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Both handlers before the first frame: a Ctrl-C right after it must not kill us
        // mid-write with the default action.
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut shown = 0u64;
        loop {
            let body = frame(socket, json).await;
            shown += 1;
            let header = format!(
                "Every {:.1}s: piranha status ({})",
                interval.as_secs_f64(),
                socket.display()
            );
            let mut out = std::io::stdout().lock();
            let written = if tty {
                write!(out, "{CLEAR}{header}\n\n{body}")
            } else {
                write!(out, "{header} [{shown}]\n{body}\n")
            };
            if written.and_then(|()| out.flush()).is_err() {
                // The reader went away (`| head`): done.
                return Ok(ExitCode::SUCCESS);
            }
            drop(out);
            if count.is_some_and(|n| shown >= n) {
                return Ok(ExitCode::SUCCESS);
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = int.recv() => break,
                _ = term.recv() => break,
            }
        }
        if tty {
            println!();
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `--interval` as seconds with decimals (`0.5`, `2`).
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !secs.is_finite() || secs < MIN_INTERVAL.as_secs_f64() || secs > 86_400.0 {
        return Err(format!(
            "the interval must be between {} and 86400 seconds",
            MIN_INTERVAL.as_secs_f64()
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}
