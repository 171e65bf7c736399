//! # piranha-backends
//!
//! The real backend: implementations of the engine's port traits on a Linux host — IPVS over
//! generic netlink (neli), VIP addresses over rtnetlink, gratuitous ARP through a raw datalink
//! channel (pnet), UDP heartbeats and TCP/UDP health probes over tokio, and external commands.
//!
//! Status: not yet written (issue "The real backend and the daemon"). Nothing here is used yet.
#![deny(missing_docs)]

pub mod ipvs;
