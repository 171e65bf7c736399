//! The drivers' own log as a trace: every line the daemon logs (`piranha_daemon` at `debug`),
//! stamped with simulated time and prefixed by turmoil's host span (which router said it).

use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Simulated time, as the log's timestamp.
struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write!(w, "{:?}", turmoil::sim_elapsed().unwrap_or_default())
    }
}

/// Appends to the shared buffer.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Run `f` (a whole simulation, on this thread) and return the daemons' log, one line per
/// event: `TIME LEVEL node{name="ROUTER"}: piranha_daemon::driver: MESSAGE`.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || Sink(sink.clone()))
        .with_timer(SimTime)
        .with_ansi(false)
        .with_env_filter("piranha_daemon=debug,turmoil::sim=info")
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.lock().unwrap().clone()).expect("utf-8 log");
    (out, text.lines().map(str::to_string).collect())
}
