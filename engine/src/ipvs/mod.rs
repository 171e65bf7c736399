//! The IPVS table as the kernel holds it, and the reconciler that turns one table into another.
//!
//! - [`model`]: services and destinations in the kernel's shape.
//! - [`table`]: the [`Table`] and the [`Op`]s the kernel accepts, with [`Table::apply`]
//!   following the kernel's semantics (the simulator's in-memory kernel).
//! - [`reconcile`](reconcile()): the minimal ordered list of ops from an actual table (a dump) to a
//!   desired one.
//! - [`listing`]: the table rendered exactly like `ipvsadm -Ln`.

pub mod listing;
pub mod model;
pub mod reconcile;
pub mod table;

pub use model::{
    Dest, DestConns, DestKey, Family, Forwarding, Protocol, Service, ServiceFlags, ServiceKey,
    Timeouts, TunnelParams, TunnelType,
};
pub use reconcile::{reconcile, Ownership};
pub use table::{ApplyError, Op, ServiceEntry, Table};
