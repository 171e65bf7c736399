//! # piranha-daemon
//!
//! The async driver: a thin tokio I/O pump around the engine's director (read the clock, feed
//! the engine, execute its outputs, re-arm the timer), signal handling and reload, the control
//! socket, and the web GUI (the Piranha Configuration Tool).
//!
//! Status: not yet written (issues "The real backend and the daemon" and "The Piranha
//! Configuration Tool"). Nothing here is used yet.
#![deny(missing_docs)]

pub mod control;
pub mod gui;
