//! The router's side of the witness lease.
//!
//! A router may be active only while it holds a valid lease. Expiry is judged conservatively
//! on the holder's side: a grant answering the request sent at `t_sent` is valid until
//! `t_sent + granted - safety_margin`. The witness counts from when it *received* the
//! request (later than `t_sent`), so the holder always gives up before the witness would
//! grant the lease to anyone else, as long as the two clocks' rates differ by less than the
//! margin over one lease.

use super::config::ArbiterConfig;
use super::output::RejectReason;
use super::replay::ReplayWindow;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// Outstanding requests remembered (older ones are forgotten: their answers are ignored).
pub const MAX_PENDING: usize = 4;

/// Lease state of one router.
#[derive(Debug, Clone)]
pub struct LeaseClient {
    config: ArbiterConfig,
    pending: VecDeque<(u64, Instant)>,
    valid_until: Option<Instant>,
    /// Freshness of the witness's replies.
    pub window: ReplayWindow,
}

impl LeaseClient {
    /// No lease held yet.
    pub fn new(config: ArbiterConfig) -> LeaseClient {
        LeaseClient {
            config,
            pending: VecDeque::with_capacity(MAX_PENDING),
            valid_until: None,
            window: ReplayWindow::default(),
        }
    }

    /// Configuration.
    pub fn config(&self) -> &ArbiterConfig {
        &self.config
    }

    /// Is the lease valid at `now`?
    pub fn valid(&self, now: Instant) -> bool {
        self.valid_until.is_some_and(|u| now < u)
    }

    /// Local (conservative) expiry, if a lease was granted.
    pub fn valid_until(&self) -> Option<Instant> {
        self.valid_until
    }

    /// Lease duration asked for, in milliseconds.
    pub fn request_ms(&self) -> u32 {
        u32::try_from(self.config.lease.as_millis()).unwrap_or(u32::MAX)
    }

    /// Interval between requests: renewals while active, retries while waiting.
    pub fn request_interval(&self, keepalive: Duration, active: bool) -> Duration {
        let quarter = self.config.lease.div(4);
        if active {
            quarter
        } else {
            quarter.min(keepalive)
        }
    }

    /// Remember a request sent at `now` with `sequence`.
    pub fn note_request(&mut self, sequence: u64, now: Instant) {
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((sequence, now));
        debug_assert!(self.pending.len() <= MAX_PENDING);
    }

    fn take_pending(&mut self, echo: u64) -> Result<Instant, RejectReason> {
        let pos = self
            .pending
            .iter()
            .position(|&(s, _)| s == echo)
            .ok_or(RejectReason::UnexpectedReply)?;
        let sent = self.pending[pos].1;
        // Answers to older requests can no longer come in order: drop them too.
        self.pending.drain(..=pos);
        Ok(sent)
    }

    /// A grant answering request `echo` for `granted_ms`: returns the new local expiry, or
    /// `None` for a GRACE grant (witness just restarted) that we may not use because our
    /// lease is not valid at `now`, the grant's arrival (see the witness docs). An unusable
    /// grant must be released.
    pub fn on_grant(
        &mut self,
        echo: u64,
        granted_ms: u32,
        grace: bool,
        now: Instant,
    ) -> Result<Option<Instant>, RejectReason> {
        let sent = self.take_pending(echo)?;
        if grace && !self.valid(now) {
            return Ok(None);
        }
        let granted = Duration::from_millis(u64::from(granted_ms)).min(self.config.lease);
        let until = sent + granted.saturating_sub(self.config.safety_margin);
        let until = self.valid_until.map_or(until, |u| u.max(until));
        self.valid_until = Some(until);
        Ok(Some(until))
    }

    /// A denial answering request `echo`.
    pub fn on_deny(&mut self, echo: u64) -> Result<(), RejectReason> {
        self.take_pending(echo).map(|_| ())
    }

    /// Forget the lease (it was released or given up).
    pub fn release(&mut self) {
        self.valid_until = None;
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> LeaseClient {
        LeaseClient::new(ArbiterConfig {
            address: "192.0.2.3:5390".parse().unwrap(),
            lease: Duration::from_secs(10),
            safety_margin: Duration::from_millis(500),
        })
    }

    #[test]
    fn expiry_counts_from_the_request_minus_margin() {
        let mut c = client();
        c.note_request(1, Instant::from_nanos(2_000_000_000));
        // The grant arrives 3 s later; the lease still counts from t=2s.
        assert_eq!(
            c.on_grant(1, 10_000, false, Instant::ZERO),
            Ok(Some(Instant::from_nanos(11_500_000_000)))
        );
        assert!(c.valid(Instant::from_nanos(11_499_999_999)));
        assert!(!c.valid(Instant::from_nanos(11_500_000_000)));
    }

    #[test]
    fn unknown_or_answered_echo_is_unexpected() {
        let mut c = client();
        assert_eq!(
            c.on_grant(9, 10_000, false, Instant::ZERO),
            Err(RejectReason::UnexpectedReply)
        );
        c.note_request(1, Instant::ZERO);
        c.note_request(2, Instant::ZERO);
        assert!(c.on_grant(2, 10_000, false, Instant::ZERO).is_ok());
        // Request 1 was older than the answered one: forgotten.
        assert_eq!(c.on_deny(1), Err(RejectReason::UnexpectedReply));
        assert_eq!(
            c.on_grant(2, 10_000, false, Instant::ZERO),
            Err(RejectReason::UnexpectedReply)
        );
    }

    #[test]
    fn grace_grant_usable_only_with_a_lease_valid_on_arrival() {
        let mut c = client();
        c.note_request(1, Instant::ZERO);
        c.note_request(2, Instant::ZERO);
        // No lease yet: a GRACE grant is refused (to be released).
        assert_eq!(c.on_grant(1, 10_000, true, Instant::ZERO), Ok(None));
        assert!(!c.valid(Instant::ZERO));
        c.note_request(3, Instant::ZERO);
        let until = c
            .on_grant(3, 10_000, false, Instant::ZERO)
            .unwrap()
            .unwrap();
        assert_eq!(until, Instant::from_nanos(9_500_000_000));
        // Valid on arrival: the GRACE grant extends from its request.
        c.note_request(4, Instant::from_nanos(5_000_000_000));
        let at = Instant::from_nanos(5_100_000_000);
        assert_eq!(
            c.on_grant(4, 10_000, true, at),
            Ok(Some(Instant::from_nanos(14_500_000_000)))
        );
        // Arriving after expiry: refused.
        c.note_request(5, Instant::from_nanos(14_000_000_000));
        let late = Instant::from_nanos(14_600_000_000);
        assert_eq!(c.on_grant(5, 10_000, true, late), Ok(None));
    }

    #[test]
    fn grant_is_capped_and_pending_bounded() {
        let mut c = client();
        for s in 1..=10 {
            c.note_request(s, Instant::ZERO);
        }
        assert_eq!(
            c.on_grant(1, 10_000, false, Instant::ZERO),
            Err(RejectReason::UnexpectedReply)
        );
        // The witness granting more than asked does not extend our view.
        assert_eq!(
            c.on_grant(7, 60_000, false, Instant::ZERO),
            Ok(Some(Instant::from_nanos(9_500_000_000)))
        );
        c.release();
        assert!(!c.valid(Instant::ZERO));
    }
}
