//! The control socket: a unix stream socket, mode 0600, one JSON request line and one JSON
//! response line per connection (see [`crate::control`]). Requests are handed to the driver
//! through its [`Control`] channel; the driver answers.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::control::{Request, Response, MAX_LINE_BYTES};
use crate::driver::Control;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Bind the socket at `path` (replacing a stale one, creating the directory), mode 0600.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serve connections until the driver goes away.
pub async fn serve(listener: UnixListener, to_driver: mpsc::Sender<Control>, path: PathBuf) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("control socket {}: {e}", path.display());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let tx = to_driver.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, tx).await {
                debug!("control connection: {e}");
            }
        });
        if to_driver.is_closed() {
            return;
        }
    }
}

async fn handle(stream: UnixStream, to_driver: mpsc::Sender<Control>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(MAX_LINE_BYTES as u64);
    let mut line = String::new();
    tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request"))??;
    let response = match serde_json::from_str::<Request>(line.trim_end()) {
        Err(e) => Response::Error {
            message: format!("bad request: {e}"),
        },
        Ok(req) => {
            let (tx, rx) = oneshot::channel();
            if to_driver.send(Control::Request(req, tx)).await.is_err() {
                Response::Error {
                    message: "daemon shutting down".into(),
                }
            } else {
                rx.await.unwrap_or(Response::Error {
                    message: "daemon shutting down".into(),
                })
            }
        }
    };
    let mut out = serde_json::to_vec(&response).map_err(io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_request_one_answer_and_bad_lines_are_refused() {
        let dir = std::env::temp_dir().join(format!("piranha-ctl-{}", std::process::id()));
        let path = dir.join("sub").join("control.sock");
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (tx, mut rx) = mpsc::channel(4);
        tokio::spawn(serve(listener, tx, path.clone()));
        // A stand-in driver answering every request.
        tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                if let Control::Request(req, reply) = c {
                    let _ = reply.send(Response::Ok {
                        message: format!("{req:?}"),
                    });
                }
            }
        });
        let p = path.clone();
        let r = crate::control_client::call(&p, &Request::Reload)
            .await
            .unwrap();
        assert_eq!(
            r,
            Response::Ok {
                message: "Reload".into()
            }
        );
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"{\"cmd\":\"explode\"}\n").await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with(r#"{"result":"error","message":"bad request"#),
            "{answer}"
        );
        // A stale socket file is replaced on the next bind.
        drop(bind(&path).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
