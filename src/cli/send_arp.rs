//! `piranha send-arp [-i DEV] SRC_IP SRC_HW TARG_IP TARG_HW`: Piranha's send_arp. One 60-byte
//! frame to TARG_HW: an ARP reply whose sender and target are both SRC_IP/SRC_HW (TARG_IP is
//! accepted and ignored, as by the original). Pulse's own call is
//! `send-arp -i eth0 VIP <MAC> <broadcast> ffffffffffff`.

use std::net::Ipv4Addr;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use piranha_engine::wire::arp::{Mac, Repr};

/// Send one gratuitous ARP reply, exactly as Piranha's send_arp does.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interface to send on.
    #[arg(short = 'i', value_name = "DEV", default_value = "eth0")]
    device: String,
    /// The address announced (the VIP).
    src_ip: Ipv4Addr,
    /// Its hardware address: 12 hex digits (colons allowed).
    #[arg(value_parser = parse_mac)]
    src_hw: Mac,
    /// Ignored (Piranha passes the broadcast address).
    targ_ip: Ipv4Addr,
    /// Ethernet destination, usually ffffffffffff.
    #[arg(value_parser = parse_mac)]
    targ_hw: Mac,
}

/// `001122aabbcc` or `00:11:22:aa:bb:cc`.
pub fn parse_mac(s: &str) -> anyhow::Result<Mac> {
    let hex: String = s.chars().filter(|c| *c != ':' && *c != '-').collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("{s:?} is not a hardware address (12 hex digits)");
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).context("hex")?;
    }
    Ok(Mac(mac))
}

/// The frame: Piranha's reply, sent to `targ_hw`.
pub fn frame(src_ip: Ipv4Addr, src_hw: Mac, targ_hw: Mac) -> [u8; 60] {
    Repr {
        eth_dst: targ_hw,
        ..Repr::send_arp_reply(src_ip, src_hw)
    }
    .to_bytes()
}

impl Args {
    /// Send it.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let _ = self.targ_ip;
        let bytes = frame(self.src_ip, self.src_hw, self.targ_hw);
        piranha_backends::arp::send_frame(&self.device, &bytes)?;
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_with_and_without_colons() {
        assert_eq!(parse_mac("ffffffffffff").unwrap(), Mac([0xff; 6]));
        assert_eq!(
            parse_mac("52:54:00:12:34:5A").unwrap(),
            Mac([0x52, 0x54, 0, 0x12, 0x34, 0x5a])
        );
        assert!(parse_mac("52:54:00:12:34").is_err());
        assert!(parse_mac("zz5400123456").is_err());
    }

    #[test]
    fn frame_is_piranhas() {
        let hw = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let f = frame(Ipv4Addr::new(192, 168, 26, 10), hw, Mac([0xff; 6]));
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x06, 0, 1,
            0x08, 0, 6, 4, 0, 2, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 192, 168, 26, 10, 0x52, 0x54, 0,
            0x12, 0x34, 0x56, 192, 168, 26, 10,
        ];
        assert_eq!(&f[..42], &expected);
        assert!(f[42..].iter().all(|&b| b == 0));
        // A unicast destination goes only into the Ethernet header.
        let u = frame(Ipv4Addr::new(10, 0, 0, 1), hw, Mac([2, 0, 0, 0, 0, 1]));
        assert_eq!(&u[0..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&u[32..38], &hw.0);
    }
}
