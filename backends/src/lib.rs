//! # piranha-backends
//!
//! The real backend: implementations of the engine's port traits on a Linux host — VIP
//! addresses over rtnetlink ([`vip`]), gratuitous ARP through a raw datalink channel ([`arp`]),
//! UDP heartbeats ([`heartbeat`]) and TCP/UDP/program health probes ([`probe`]) over tokio,
//! operator commands ([`commands`]), and IPVS over generic netlink ([`ipvs`]).
#![deny(missing_docs)]

pub mod arp;
pub mod commands;
pub mod heartbeat;
pub mod ipvs;
pub mod link;
pub mod probe;
pub mod vip;
