//! `monitor_links = 1`: watch the VIP interfaces' link state (administratively up and running,
//! i.e. carrier) by polling the interface list, and report changes.

use std::time::Duration;

use tokio::sync::mpsc;

/// Whether every one of `devices` (interface names; aliases like `eth0:1` are reduced to
/// `eth0`) exists, is up and has carrier. Devices that do not exist count as down.
pub fn links_up(devices: &[String]) -> bool {
    let ifaces = pnet_datalink::interfaces();
    devices.iter().all(|d| {
        let name = d.split(':').next().unwrap_or(d);
        ifaces
            .iter()
            .any(|i| i.name == name && i.is_up() && i.is_running())
    })
}

/// Poll every `interval` until `tx` closes; send `false` when a link goes down and `true` when
/// all are back (changes only; the first state is sent only if it is down).
pub async fn watch(devices: Vec<String>, interval: Duration, tx: mpsc::Sender<bool>) {
    let mut was_up = true;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let d = devices.clone();
        let up = tokio::task::spawn_blocking(move || links_up(&d))
            .await
            .unwrap_or(true);
        if up != was_up {
            was_up = up;
            if tx.send(up).await.is_err() {
                return;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_up_and_a_missing_device_is_down() {
        assert!(links_up(&["lo".to_string()]));
        assert!(!links_up(&["no-such-dev0".to_string()]));
        assert!(links_up(&[]));
    }
}
