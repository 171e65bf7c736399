//! The drivers' own log as a trace: every line the daemon logs (`piranha_daemon` at `debug`),
//! stamped with simulated time and prefixed by turmoil's host span (which router said it).
//!
//! One global subscriber for the whole test binary, writing into a buffer of the capturing
//! thread only: `tracing` caches each call site's interest process-wide, so a scoped
//! subscriber on one test's thread would miss lines whose call site another test's thread
//! (with no subscriber) reached first.

use std::cell::RefCell;
use std::io;
use std::sync::Once;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

thread_local! {
    /// This thread's capture, when one is running.
    static BUFFER: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Simulated time, as the log's timestamp.
struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write!(w, "{:?}", turmoil::sim_elapsed().unwrap_or_default())
    }
}

/// Appends to this thread's capture (drops the line when the thread captures nothing).
struct Sink;

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        BUFFER.with(|b| {
            if let Some(v) = b.borrow_mut().as_mut() {
                v.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

static INSTALL: Once = Once::new();

/// Run `f` (a whole simulation, on this thread) and return the daemons' log, one line per
/// event: `TIME LEVEL node{name="ROUTER"}: piranha_daemon::driver: MESSAGE`.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| Sink)
            .with_timer(SimTime)
            .with_ansi(false)
            .with_env_filter("piranha_daemon=debug,turmoil::sim=info")
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    BUFFER.with(|b| *b.borrow_mut() = Some(Vec::new()));
    let out = f();
    let bytes = BUFFER.with(|b| b.borrow_mut().take()).unwrap_or_default();
    let text = String::from_utf8(bytes).expect("utf-8 log");
    (out, text.lines().map(str::to_string).collect())
}
