//! Every wakeup source of pulse, in one table: [`super::Pulse::poll_timeout`] is its minimum.

use crate::time::Instant;

/// Why pulse wants to be woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerReason {
    /// Send the next heartbeat on every path.
    Heartbeat,
    /// The public path's deadline (last beat + deadtime).
    PublicDeadline,
    /// The private path's deadline.
    PrivateDeadline,
    /// Primary: end of the start-up listen period.
    StartupListen,
    /// Next gratuitous ARP round of the post-takeover burst.
    ArpRepeat,
    /// Periodic ARP refresh while active.
    ArpRefresh,
    /// Ask the witness for (or renew) the lease.
    LeaseRequest,
    /// The lease runs out (judged conservatively): give up if still active.
    LeaseExpiry,
    /// Legacy backup: the primary said STOPPED without having been active; if it still is
    /// not active when this fires, take over.
    StoppedGrace,
}

impl TimerReason {
    /// All reasons, in the order expired timers are handled.
    pub const ALL: [TimerReason; 9] = [
        TimerReason::LeaseExpiry,
        TimerReason::PublicDeadline,
        TimerReason::PrivateDeadline,
        TimerReason::StartupListen,
        TimerReason::StoppedGrace,
        TimerReason::LeaseRequest,
        TimerReason::Heartbeat,
        TimerReason::ArpRepeat,
        TimerReason::ArpRefresh,
    ];

    const fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`TimerReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerTable {
    at: [Option<Instant>; 9],
}

impl TimerTable {
    /// Arm (or re-arm).
    pub fn set(&mut self, reason: TimerReason, at: Instant) {
        self.at[reason.index()] = Some(at);
    }
    /// Disarm.
    pub fn stop(&mut self, reason: TimerReason) {
        self.at[reason.index()] = None;
    }
    /// When, if armed.
    pub fn get(&self, reason: TimerReason) -> Option<Instant> {
        self.at[reason.index()]
    }
    /// Disarm all.
    pub fn clear(&mut self) {
        self.at = [None; 9];
    }
    /// Earliest armed deadline and its reason (ties: handling order).
    pub fn next(&self) -> Option<(Instant, TimerReason)> {
        TimerReason::ALL
            .iter()
            .filter_map(|&r| self.get(r).map(|t| (t, r)))
            .min_by_key(|&(t, _)| t)
    }
    /// Disarm and return whether `reason` expired at `now`.
    pub fn take_expired(&mut self, reason: TimerReason, now: Instant) -> bool {
        match self.get(reason) {
            Some(t) if t <= now => {
                self.stop(reason);
                true
            }
            _ => false,
        }
    }
}
