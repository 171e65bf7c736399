//! The control-socket client: one JSON request line, one JSON response line (see
//! [`crate::control`]). Every call is bounded in time and size.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;

use crate::control::{Request, Response, MAX_LINE_BYTES};

/// How long one exchange with the daemon may take for the web tool (a page waits on it).
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Send `request` to the daemon at `socket` and read its answer, within [`TIMEOUT`].
pub async fn call(socket: &Path, request: &Request) -> Result<Response, String> {
    call_within(socket, request, TIMEOUT).await
}

/// Send `request` to the daemon at `socket` and read its answer, within `timeout`.
pub async fn call_within(
    socket: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, String> {
    match tokio::time::timeout(timeout, exchange(socket, request)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer from {} within {} s",
            socket.display(),
            timeout.as_secs()
        )),
    }
}

async fn exchange(socket: &Path, request: &Request) -> Result<Response, String> {
    let mut stream = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("no daemon answers on {}: {e}", socket.display()))?;
    let mut line = serde_json::to_string(request).map_err(|e| e.to_string())?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .await
        .map_err(|e| format!("cannot send to {}: {e}", socket.display()))?;
    let mut reader = BufReader::new(stream.take(MAX_LINE_BYTES as u64 + 1));
    let mut answer = Vec::new();
    reader
        .read_until(b'\n', &mut answer)
        .await
        .map_err(|e| format!("cannot read from {}: {e}", socket.display()))?;
    if answer.len() > MAX_LINE_BYTES {
        return Err("the daemon's answer is too long".into());
    }
    if answer.is_empty() {
        return Err("the daemon closed the connection without answering".into());
    }
    serde_json::from_slice(&answer).map_err(|e| format!("unreadable answer from the daemon: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Instant;

    use tokio::io::AsyncWriteExt as _;
    use tokio::net::UnixListener;

    use super::*;

    fn socket(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("piranha-gui-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    /// A one-connection daemon that reads the request line, then does `reply` with the stream.
    async fn daemon(
        path: &Path,
        reply: &'static [u8],
        then_wait: bool,
    ) -> tokio::task::JoinHandle<String> {
        let listener = UnixListener::bind(path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            BufReader::new(r).read_line(&mut line).await.unwrap();
            w.write_all(reply).await.unwrap();
            if then_wait {
                tokio::time::sleep(TIMEOUT * 2).await;
            }
            line
        })
    }

    #[tokio::test]
    async fn one_line_each_way() {
        let p = socket("ok.sock");
        let d = daemon(
            &p,
            b"{\"result\":\"ok\",\"message\":\"reloaded serial 7\"}\n",
            false,
        )
        .await;
        let r = call(&p, &Request::Reload).await.unwrap();
        assert_eq!(
            r,
            Response::Ok {
                message: "reloaded serial 7".into()
            }
        );
        assert_eq!(d.await.unwrap(), "{\"cmd\":\"reload\"}\n");
    }

    #[tokio::test]
    async fn failures_are_errors_not_hangs() {
        assert!(call(&socket("absent.sock"), &Request::Status)
            .await
            .unwrap_err()
            .starts_with("no daemon answers on"));
        let p = socket("garbage.sock");
        let _d = daemon(&p, b"<html>\n", false).await;
        let e = call(&p, &Request::Status).await.unwrap_err();
        assert!(e.starts_with("unreadable answer from the daemon"), "{e}");
        let p = socket("silent.sock");
        let _d = daemon(&p, b"", true).await;
        let start = Instant::now();
        let e = call(&p, &Request::Status).await.unwrap_err();
        assert!(e.starts_with("no answer from"), "{e}");
        assert!(start.elapsed() < TIMEOUT * 2);
    }
}
