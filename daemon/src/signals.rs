//! Unix signals into driver [`Control`]s: SIGHUP reloads lvs.cf; SIGTERM and SIGINT hand over
//! and stop. A second SIGTERM/SIGINT while stopping is ignored (the handover is short).

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::info;

use crate::driver::Control;

/// Install the handlers (inside a tokio runtime) and forward signals until the driver is gone.
pub fn forward(to_driver: mpsc::Sender<Control>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            let c = tokio::select! {
                _ = hup.recv() => { info!("SIGHUP: reloading"); Control::Reload(None) }
                _ = term.recv() => { info!("SIGTERM"); Control::Shutdown }
                _ = int.recv() => { info!("SIGINT"); Control::Shutdown }
            };
            if to_driver.send(c).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}
