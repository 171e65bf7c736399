//! # piranha-sim
//!
//! The simulated backend and the seeded simulator: many routers' engines, real servers and
//! clients on a simulated network with simulated time, fault injection (partitions, loss,
//! crashes, pauses, drift), invariant checkers, a seed runner, a shrinker and a timeline.
//! Every run is reproducible from its seed.
//!
//! Status: not yet written (issue "The simulator"). Nothing here is used yet.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
