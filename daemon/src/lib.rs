//! # piranha-daemon
//!
//! The async driver: a thin tokio I/O pump around the engine's director ([`driver`]: read the
//! clock, feed the engine, execute its outputs, re-arm the timer), signal handling and reload
//! ([`signals`]), the control socket ([`control`] is the protocol, [`control_server`] serves
//! it), bounded lvs.cf reads ([`config_file`]), `--no-ipvs` ([`no_ipvs`]) and the web GUI ([`gui`], the Piranha Configuration Tool).
#![deny(missing_docs)]

pub mod config_file;
pub mod control;
pub mod control_client;
pub mod control_server;
pub mod driver;
#[cfg(test)]
mod driver_tests;
pub mod gui;
pub mod metrics;
pub mod no_ipvs;
pub mod signals;
pub mod status;
