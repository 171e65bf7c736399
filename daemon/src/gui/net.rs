//! The listener of `piranha gui`: plain HTTP/1.1, or TLS with HTTP/2 or HTTP/1.1 chosen by
//! ALPN, with the limits that keep slow and idle clients from holding its file descriptors:
//! a connection cap (overall and per client address: beyond, a new connection is closed at
//! once), a header-read timeout (HTTP/1.1, also the keep-alive idle time), a TLS handshake
//! timeout, and an idle timeout on the socket itself (no byte read or written for that long,
//! in either direction: the connection is closed; this also ends clients that never read
//! their answer), and over HTTP/2 a maximum connection age (then a graceful shutdown: a client
//! sending pings cannot keep one forever). POST bodies have their own deadline in the router's
//! guard.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use super::Limits;

/// Open connections, overall and per client address.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// A held connection slot, given back on drop.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().expect("connection counts");
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
    }
}

fn admit(counts: &Arc<Mutex<Counts>>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
    let mut c = counts.lock().expect("connection counts");
    let mine = c.by_ip.get(&ip).copied().unwrap_or(0);
    if c.total >= limits.max_connections || mine >= limits.max_connections_per_source {
        return None;
    }
    c.total += 1;
    *c.by_ip.entry(ip).or_insert(0) += 1;
    Some(Slot {
        counts: counts.clone(),
        ip,
    })
}

/// A socket that fails with `TimedOut` once no byte has moved either way for `idle`.
struct IdleIo<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<T> IdleIo<T> {
    fn new(inner: T, idle: Duration) -> Self {
        IdleIo {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn moved(&mut self) {
        let at = Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle: closed")
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serve `app` on `listener` until the task is dropped. `tls`: HTTPS (ALPN `h2`, `http/1.1`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
) -> io::Result<()> {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let mut warned_accept = false;
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, the open ones time out.
                if !warned_accept {
                    tracing::warn!("piranha gui: accept failed: {e}");
                    warned_accept = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Counted per source as the login limiter does (an IPv6 /64 is one client).
        let source = super::auth::login_source(peer.ip());
        let Some(slot) = admit(&counts, source, &limits) else {
            drop(tcp);
            continue;
        };
        let app = app.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tcp.set_nodelay(true);
            let _ = connection(tcp, peer, app, tls, &limits).await;
        });
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: &Limits,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let io = IdleIo::new(tcp, limits.idle_timeout);
    let Some(acceptor) = tls else {
        return Ok(http1(limits)
            .serve_connection(TokioIo::new(io), svc)
            .await?);
    };
    let stream = tokio::time::timeout(limits.header_timeout, acceptor.accept(io))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake too slow"))??;
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        // No server pings: they would count as traffic and keep an idle connection forever.
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_concurrent_streams(32)
            .max_header_list_size(64 * 1024);
        let conn = b.serve_connection(TokioIo::new(stream), svc);
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => Ok(r?),
            () = tokio::time::sleep(limits.max_connection_age) => {
                conn.as_mut().graceful_shutdown();
                Ok(conn.await?)
            }
        }
    } else {
        Ok(http1(limits)
            .serve_connection(TokioIo::new(stream), svc)
            .await?)
    }
}

fn http1(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    b
}
