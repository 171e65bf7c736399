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

use crate::control::{Request, Response};
use crate::driver::Control;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request line read (requests are a few dozen bytes; answers may be long).
pub const MAX_REQUEST_BYTES: usize = 64 << 10;
/// Connections served at once; more are answered "busy" and closed.
pub const MAX_CONNECTIONS: usize = 32;

/// Bind the socket at `path` (creating the directory), mode 0600. A socket file left by a dead
/// daemon is replaced; anything else at `path` is left alone: a live daemon's socket (a second
/// `piranha pulse` must not steal the first one's), and any file that is not a socket (a typo in
/// `--control-socket` must not delete it).
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt as _;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket: refusing to replace it",
                    path.display()
                ),
            ))
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{} is the live control socket of another daemon: is piranha pulse already running?",
                        path.display()
                    ),
                ))
            }
            // Nobody listens: a dead daemon's socket.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Err(e) => return Err(e),
        },
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Remove the socket at `path` if it is still the one `listener` was bound to (another daemon
/// may have replaced it since).
pub fn unlink_if_ours(path: &Path, bound: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt as _;
    if let Ok(now) = std::fs::symlink_metadata(path) {
        // (inode numbers are reused at once: the change time tells two sockets apart)
        let id = |m: &std::fs::Metadata| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec());
        if id(&now) == id(bound) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Serve connections until the driver goes away.
pub async fn serve(listener: UnixListener, to_driver: mpsc::Sender<Control>, path: PathBuf) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("control socket {}: {e}", path.display());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Full: say so without reading (a flood of idle clients costs one line each).
            tokio::spawn(async move {
                let mut stream = stream;
                let busy = Response::Error {
                    message: format!("busy: {MAX_CONNECTIONS} control connections open"),
                };
                if let Ok(mut out) = serde_json::to_vec(&busy) {
                    out.push(b'\n');
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, stream.write_all(&out)).await;
                }
            });
            continue;
        };
        let tx = to_driver.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, tx).await {
                debug!("control connection: {e}");
            }
            drop(slot);
        });
        if to_driver.is_closed() {
            return;
        }
    }
}

async fn handle(stream: UnixStream, to_driver: mpsc::Sender<Control>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(MAX_REQUEST_BYTES as u64 + 1);
    let mut line = String::new();
    tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request"))??;
    let response = match serde_json::from_str::<Request>(line.trim_end()) {
        _ if line.len() > MAX_REQUEST_BYTES => Response::Error {
            message: format!("bad request: longer than {MAX_REQUEST_BYTES} bytes"),
        },
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
        // An oversized request is refused without being parsed.
        let mut s = UnixStream::connect(&path).await.unwrap();
        let mut big = vec![b' '; MAX_REQUEST_BYTES + 10];
        big.push(b'\n');
        let _ = s.write_all(&big).await;
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.contains("longer than 65536 bytes"), "{answer}");
        // A live daemon's socket is not taken over.
        let err = bind(&path).unwrap_err();
        assert!(err.to_string().contains("another daemon"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn only_a_dead_daemons_socket_is_replaced() {
        let dir = std::env::temp_dir().join(format!("piranha-ctl-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A regular file at the path (a typo in --control-socket) is kept, untouched.
        let file = dir.join("lvs.cf");
        std::fs::write(&file, b"serial_no = 1\n").unwrap();
        let err = bind(&file).unwrap_err();
        assert!(err.to_string().contains("is not a socket"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"serial_no = 1\n");
        // A socket nobody listens on any more is replaced.
        let path = dir.join("control.sock");
        let first = bind(&path).unwrap();
        let first_meta = std::fs::symlink_metadata(&path).unwrap();
        drop(first);
        // (past the kernel's timestamp granularity, as any real restart is)
        tokio::time::sleep(Duration::from_millis(30)).await;
        let second = bind(&path).unwrap();
        // The first daemon's exit must not unlink the second's socket.
        unlink_if_ours(&path, &first_meta);
        assert!(path.exists());
        let second_meta = std::fs::symlink_metadata(&path).unwrap();
        unlink_if_ours(&path, &second_meta);
        assert!(!path.exists());
        drop(second);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn idle_clients_beyond_the_cap_are_told_busy() {
        let dir = std::env::temp_dir().join(format!("piranha-ctl-cap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("control.sock");
        let listener = bind(&path).unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        tokio::spawn(serve(listener, tx, path.clone()));
        tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                if let Control::Request(_, reply) = c {
                    let _ = reply.send(Response::Ok {
                        message: "ok".into(),
                    });
                }
            }
        });
        // MAX_CONNECTIONS clients that connect and say nothing hold every slot...
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(UnixStream::connect(&path).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // ...so the next one is answered at once, without waiting for their timeouts.
        let mut s = UnixStream::connect(&path).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut answer))
            .await
            .expect("answered at once")
            .unwrap();
        assert!(answer.contains("busy"), "{answer}");
        // Once they go, requests are served again.
        drop(idle);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = crate::control_client::call(&path, &Request::Status)
            .await
            .unwrap();
        assert_eq!(
            r,
            Response::Ok {
                message: "ok".into()
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
