//! # piranha-engine
//!
//! The pure, deterministic core of piranha, a rebuild of Red Hat's Piranha (the LVS director
//! stack). Every decision the original's daemons made — `pulse` (heartbeat and failover),
//! `nanny` (real-server health), `lvs` (what the IPVS table must hold) — is made here by
//! code that performs no I/O, reads no clock, spawns no thread and draws no global randomness.
//!
//! Time is a parameter (`now: Instant`, our own nanosecond type from [`time`]); inputs go in
//! through `handle_*` methods and outputs are pulled with `poll_*` methods, in the style of
//! quinn-proto and str0m. The same engine runs under the production tokio driver
//! (`piranha-daemon` with `piranha-backends`), under turmoil, and under the fast seeded
//! simulator (`piranha-sim`).
//!
//! Layers:
//! - [`time`]: `Instant` / `Duration` newtypes.
//! - [`config`]: the lvs.cf model, parser (FILE:LINE:COL errors), validator, canonical writer.
//! - [`wire`]: heartbeat wire formats (legacy Piranha magic, authenticated v2) and ARP frames.
//! - [`sched`]: every kernel IPVS scheduler, kernel-faithful, with indexed fast paths.
//! - [`ipvs`]: the IPVS table model and `reconcile(desired, actual)`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The one rule for every machine's output queue (pulse, nanny, director): actions, transmits
/// and requests always queue; once this many outputs are undrained, events are dropped and
/// counted (`events_dropped` in each machine's counters and in the director's status).
pub const MAX_QUEUED_OUTPUTS: usize = 4096;

pub mod config;
pub mod director;
pub mod ipvs;
pub mod lvs;
#[cfg(feature = "mutations")]
pub mod mutation;
pub mod nanny;
pub mod ports;
pub mod pulse;
pub mod scaleout;
pub mod sched;
pub mod time;
pub mod wire;
