//! `monitor_links = 1`: watch link state (administratively up and running, i.e. carrier) by
//! polling the interface list, and report changes. Watched, as Piranha's pulse does
//! (`check_links`), the interfaces that hold this router's heartbeat addresses (public and
//! private), looked up at every poll, an address no interface holds counting as up; and, in
//! addition, the VIP and NAT-router interfaces by name.

use std::net::IpAddr;
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

/// Whether the interface holding each of `addresses` is up and has carrier. An address that no
/// interface holds counts as up (Piranha's `ip_check_link` returned -1, not 0, for it).
pub fn addresses_up(addresses: &[IpAddr]) -> bool {
    let ifaces = pnet_datalink::interfaces();
    addresses.iter().all(|a| {
        ifaces
            .iter()
            .filter(|i| i.ips.iter().any(|n| n.ip() == *a))
            .all(|i| i.is_up() && i.is_running())
    })
}

/// What `monitor_links` watches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// This router's heartbeat addresses (see [`addresses_up`]).
    pub addresses: Vec<IpAddr>,
    /// VIP / NAT-router interfaces (see [`links_up`]).
    pub devices: Vec<String>,
}

impl Watched {
    /// Every watched link is up.
    pub fn up(&self) -> bool {
        addresses_up(&self.addresses) && links_up(&self.devices)
    }
}

/// Poll every `interval` until `tx` closes; send `false` when a link goes down and `true` when
/// all are back (changes only; the first state is sent only if it is down).
pub async fn watch(watched: Watched, interval: Duration, tx: mpsc::Sender<bool>) {
    let mut was_up = true;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let w = watched.clone();
        let up = tokio::task::spawn_blocking(move || w.up())
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

    #[test]
    fn an_address_nobody_holds_counts_as_up() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let nobody: IpAddr = "192.0.2.77".parse().unwrap();
        assert!(addresses_up(&[lo]));
        assert!(addresses_up(&[nobody]), "Piranha: not found is not down");
        assert!(addresses_up(&[]));
        let w = Watched {
            addresses: vec![nobody],
            devices: vec!["no-such-dev0".into()],
        };
        assert!(!w.up(), "a named VIP device that is missing is down");
    }
}
