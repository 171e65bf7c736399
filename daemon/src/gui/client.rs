//! The control-socket client: one JSON request line, one JSON response line (see
//! [`crate::control`]). Every call is bounded in time and size.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;

use crate::control::{Request, Response, MAX_LINE_BYTES};

/// How long one exchange with the daemon may take.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Send `request` to the daemon at `socket` and read its answer.
pub async fn call(socket: &Path, request: &Request) -> Result<Response, String> {
    match tokio::time::timeout(TIMEOUT, exchange(socket, request)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer from {} within {} s",
            socket.display(),
            TIMEOUT.as_secs()
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
