//! Planted bugs for the simulator's mutation check (cargo feature `mutations`, off by default,
//! never in a release build). Each hook in the engine is one line marked `MUTATION:`; the
//! simulator selects one per run with `Director::with_mutation` (no global state).

/// A planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutation {
    /// pulse: a beat extends its path's deadline by deadtime + keepalive (one beat too late).
    DeadtimeOffByOne,
    /// pulse: STOPPED from the partner is read as RUNNING.
    IgnoreStopped,
    /// pulse: an active backup hearing the active primary keeps its VIPs.
    NoPrimaryTieBreak,
    /// director: `RemoveStaleVips` at start is skipped.
    KeepStaleVips,
    /// director/reconcile: weight-only changes of a real server are never sent.
    ReconcileIgnoresWeight,
    /// nanny: a failed check is never acted on (the real server stays in the table).
    NannyIgnoresFailure,
    /// director: gratuitous ARP is never sent (clients keep the old router's MAC).
    NoAnnounce,
}

impl Mutation {
    /// Every planted bug.
    pub const ALL: [Mutation; 7] = [
        Mutation::DeadtimeOffByOne,
        Mutation::IgnoreStopped,
        Mutation::NoPrimaryTieBreak,
        Mutation::KeepStaleVips,
        Mutation::ReconcileIgnoresWeight,
        Mutation::NannyIgnoresFailure,
        Mutation::NoAnnounce,
    ];

    /// Its name (kebab case).
    pub const fn name(self) -> &'static str {
        match self {
            Mutation::DeadtimeOffByOne => "deadtime-off-by-one",
            Mutation::IgnoreStopped => "ignore-stopped",
            Mutation::NoPrimaryTieBreak => "no-primary-tie-break",
            Mutation::KeepStaleVips => "keep-stale-vips",
            Mutation::ReconcileIgnoresWeight => "reconcile-ignores-weight",
            Mutation::NannyIgnoresFailure => "nanny-ignores-failure",
            Mutation::NoAnnounce => "no-announce",
        }
    }
}
