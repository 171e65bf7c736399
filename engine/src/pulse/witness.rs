//! The witness (arbiter, `piranha witness`): a third, tiny node that grants a time-bounded
//! lease to at most one router, like corosync's quorum device. Sans-IO: feed it requests,
//! send back what it returns.
//!
//! Rules:
//! - A LEASE_REQUEST from a known router is granted when nobody holds the lease, the
//!   requester already holds it (renewal), or the holder's lease expired on the witness's
//!   clock; the grant runs for `min(asked, max_lease)` from the moment the request was
//!   handled. Otherwise it is denied, naming the holder and (in `lease_ms`, rounded up) how
//!   long its lease still runs, so the requester can ask again right then.
//! - LEASE_RELEASE from the holder frees the lease at once (graceful hand-over).
//! - After the witness (re)starts it has forgotten who held the lease, so for `max_lease` it
//!   grants only to a router whose request says ACTIVE, and marks such grants GRACE. The
//!   router uses a GRACE grant only if its current lease is still valid when the grant
//!   arrives: then any lease the old witness gave the other router would have started after
//!   our lease's expiry (the old witness saw it expire first), i.e. after this arrival and
//!   so after the restart — impossible. A stale ACTIVE request (delayed across the restart
//!   from a router whose lease has since run out) yields a GRACE grant its router refuses
//!   and releases. Net effect: a witness restart does not interrupt the active router.
//! - Requests are authenticated with the shared key and must be fresh (replay window per
//!   router); everything else is dropped and counted.

use super::config::WITNESS_NODE_ID;
use super::output::RejectReason;
use super::replay::ReplayWindow;
use crate::time::{Duration, Instant};
use crate::wire::v2::{self, Flags, Key, NodeId};
use core::net::SocketAddr;

/// Witness settings.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Shared heartbeat key.
    pub key: Key,
    /// Longest lease granted.
    pub max_lease: Duration,
    /// The routers that may hold the lease (primary 1, backup 2).
    pub routers: [NodeId; 2],
}

/// What the witness did with a request (the timeline of `piranha witness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitnessEvent {
    /// Granted (or renewed) to `node` until `until` (witness clock).
    Granted {
        /// Holder.
        node: NodeId,
        /// Expiry.
        until: Instant,
    },
    /// Refused `node`: `holder` holds it (NONE during the start-up grace).
    Denied {
        /// Requester.
        node: NodeId,
        /// Current holder.
        holder: NodeId,
    },
    /// The holder released the lease.
    Released {
        /// Former holder.
        node: NodeId,
    },
    /// A datagram was dropped.
    Rejected {
        /// Why.
        why: RejectReason,
    },
}

/// Counters for status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WitnessCounters {
    /// Grants (including renewals).
    pub granted: u64,
    /// Denials.
    pub denied: u64,
    /// Releases.
    pub released: u64,
    /// Dropped datagrams.
    pub rejected: u64,
}

/// The witness state machine.
#[derive(Debug)]
pub struct Witness {
    config: WitnessConfig,
    incarnation: u64,
    sequence: u64,
    grace_until: Instant,
    holder: Option<(NodeId, Instant)>,
    /// (incarnation, sequence) of the request that produced the current grant: a release
    /// sent before it (overtaken on the network) must not free the newer grant.
    granted_for: (u64, u64),
    windows: [ReplayWindow; 2],
    counters: WitnessCounters,
}

impl Witness {
    /// Start at `now`; `incarnation` must grow across restarts.
    pub fn new(config: WitnessConfig, incarnation: u64, now: Instant) -> Witness {
        Witness {
            grace_until: now + config.max_lease,
            config,
            incarnation,
            sequence: 0,
            holder: None,
            granted_for: (0, 0),
            windows: [ReplayWindow::default(); 2],
            counters: WitnessCounters::default(),
        }
    }

    /// Handle one datagram from `from`; returns the reply to send back to `from` (if any)
    /// and what happened.
    pub fn handle_request(
        &mut self,
        now: Instant,
        _from: SocketAddr,
        bytes: &[u8],
    ) -> (Option<Vec<u8>>, WitnessEvent) {
        match self.decide(now, bytes) {
            Ok((reply, event)) => (reply, event),
            Err(why) => {
                self.counters.rejected += 1;
                (None, WitnessEvent::Rejected { why })
            }
        }
    }

    fn decide(
        &mut self,
        now: Instant,
        bytes: &[u8],
    ) -> Result<(Option<Vec<u8>>, WitnessEvent), RejectReason> {
        let req = v2::Repr::parse_bytes(bytes, &self.config.key)?;
        let slot = self
            .config
            .routers
            .iter()
            .position(|&n| n == req.node_id)
            .ok_or(RejectReason::WrongNode)?;
        if !matches!(
            req.message,
            v2::Message::LeaseRequest | v2::Message::LeaseRelease
        ) {
            return Err(RejectReason::Malformed);
        }
        self.windows[slot].check_and_update(req.incarnation, req.sequence)?;
        let node = req.node_id;
        if req.message == v2::Message::LeaseRelease {
            let newer = (req.incarnation, req.sequence) > self.granted_for;
            if newer && self.holder.is_some_and(|(h, _)| h == node) {
                self.holder = None;
                self.counters.released += 1;
            }
            return Ok((None, WitnessEvent::Released { node }));
        }
        let in_grace = now < self.grace_until;
        let free = match self.holder {
            None => true,
            Some((h, until)) => h == node || now >= until,
        };
        // In the grace only the router that says it is active may (re)take the lease.
        if !free || (in_grace && !req.flags.contains(Flags::ACTIVE)) {
            let (holder, left_ms) = match self.holder(now) {
                // Rounded up, so a retry at that time finds the lease free.
                Some((h, until)) => {
                    let left = (until - now).as_nanos().div_ceil(1_000_000);
                    (h, u32::try_from(left).unwrap_or(u32::MAX))
                }
                None => (NodeId::NONE, 0),
            };
            self.counters.denied += 1;
            let reply = self.reply(
                v2::Message::LeaseDeny,
                holder,
                left_ms,
                req.sequence,
                Flags::empty(),
            );
            return Ok((Some(reply), WitnessEvent::Denied { node, holder }));
        }
        let asked = Duration::from_millis(u64::from(req.lease_ms));
        let granted = asked.min(self.config.max_lease);
        let until = now + granted;
        self.holder = Some((node, until));
        self.granted_for = (req.incarnation, req.sequence);
        self.counters.granted += 1;
        let ms = u32::try_from(granted.as_millis()).unwrap_or(u32::MAX);
        let flags = Flags::empty().with(Flags::GRACE, in_grace);
        let reply = self.reply(v2::Message::LeaseGrant, node, ms, req.sequence, flags);
        Ok((Some(reply), WitnessEvent::Granted { node, until }))
    }

    fn reply(
        &mut self,
        message: v2::Message,
        holder: NodeId,
        ms: u32,
        echo: u64,
        flags: Flags,
    ) -> Vec<u8> {
        self.sequence += 1;
        let repr = v2::Repr {
            lease_holder: holder,
            lease_ms: ms,
            echo,
            ..v2::Repr::heartbeat(
                message,
                flags,
                WITNESS_NODE_ID,
                self.incarnation,
                self.sequence,
                0,
            )
        };
        repr.to_bytes(&self.config.key).to_vec()
    }

    /// The current holder and its expiry (witness clock), if any.
    pub fn holder(&self, now: Instant) -> Option<(NodeId, Instant)> {
        self.holder.filter(|&(_, until)| now < until)
    }

    /// Counters.
    pub fn counters(&self) -> &WitnessCounters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: &str = "192.0.2.9:539";

    fn key() -> Key {
        Key::new(b"witness test key").unwrap()
    }

    fn witness(now: Instant) -> Witness {
        Witness::new(
            WitnessConfig {
                key: key(),
                max_lease: Duration::from_secs(10),
                routers: [NodeId(1), NodeId(2)],
            },
            1,
            now,
        )
    }

    fn request(node: u32, seq: u64, ms: u32) -> Vec<u8> {
        let r = v2::Repr {
            lease_ms: ms,
            ..v2::Repr::heartbeat(
                v2::Message::LeaseRequest,
                Flags::empty(),
                NodeId(node),
                1,
                seq,
                0,
            )
        };
        r.to_bytes(&key()).to_vec()
    }

    fn release(node: u32, seq: u64) -> Vec<u8> {
        let r = v2::Repr::heartbeat(
            v2::Message::LeaseRelease,
            Flags::empty(),
            NodeId(node),
            1,
            seq,
            0,
        );
        r.to_bytes(&key()).to_vec()
    }

    fn secs(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    fn ask(w: &mut Witness, now: Instant, bytes: &[u8]) -> (v2::Repr, WitnessEvent) {
        let (reply, ev) = w.handle_request(now, FROM.parse().unwrap(), bytes);
        (
            v2::Repr::parse_bytes(&reply.expect("a reply"), &key()).unwrap(),
            ev,
        )
    }

    #[test]
    fn grace_then_grant_then_deny_other_then_expiry() {
        let mut w = witness(secs(0));
        let (r, ev) = ask(&mut w, secs(5), &request(1, 1, 10_000));
        assert_eq!((r.message, r.lease_ms), (v2::Message::LeaseDeny, 0));
        assert_eq!(
            ev,
            WitnessEvent::Denied {
                node: NodeId(1),
                holder: NodeId::NONE
            }
        );
        let (r, ev) = ask(&mut w, secs(10), &request(1, 2, 10_000));
        assert_eq!(
            (r.message, r.lease_holder, r.lease_ms, r.echo),
            (v2::Message::LeaseGrant, NodeId(1), 10_000, 2)
        );
        assert_eq!(r.node_id, WITNESS_NODE_ID);
        assert_eq!(
            ev,
            WitnessEvent::Granted {
                node: NodeId(1),
                until: secs(20)
            }
        );
        let (r, _) = ask(&mut w, secs(19), &request(2, 1, 10_000));
        assert_eq!(
            (r.message, r.lease_holder, r.echo),
            (v2::Message::LeaseDeny, NodeId(1), 1)
        );
        // Renewal by the holder extends.
        let (r, _) = ask(&mut w, secs(15), &request(1, 3, 60_000));
        assert_eq!((r.message, r.lease_ms), (v2::Message::LeaseGrant, 10_000));
        assert_eq!(w.holder(secs(24)), Some((NodeId(1), secs(25))));
        // Expired: the other router gets it.
        let (r, _) = ask(&mut w, secs(25), &request(2, 2, 10_000));
        assert_eq!(
            (r.message, r.lease_holder),
            (v2::Message::LeaseGrant, NodeId(2))
        );
        assert_eq!(w.counters().granted, 3);
        assert_eq!(w.counters().denied, 2);
    }

    #[test]
    fn in_the_grace_only_an_active_router_gets_a_grace_grant() {
        let mut w = witness(secs(0));
        let active_req = |seq| {
            v2::Repr {
                lease_ms: 10_000,
                ..v2::Repr::heartbeat(
                    v2::Message::LeaseRequest,
                    Flags::ACTIVE,
                    NodeId(2),
                    1,
                    seq,
                    0,
                )
            }
            .to_bytes(&key())
            .to_vec()
        };
        let (r, _) = ask(&mut w, secs(1), &request(1, 1, 10_000));
        assert_eq!(
            (r.message, r.lease_holder),
            (v2::Message::LeaseDeny, NodeId::NONE)
        );
        let (r, ev) = ask(&mut w, secs(2), &active_req(1));
        assert_eq!(
            (r.message, r.flags),
            (v2::Message::LeaseGrant, Flags::GRACE)
        );
        assert_eq!(
            ev,
            WitnessEvent::Granted {
                node: NodeId(2),
                until: secs(12)
            }
        );
        let (r, _) = ask(&mut w, secs(3), &request(1, 2, 10_000));
        assert_eq!(
            (r.message, r.lease_holder),
            (v2::Message::LeaseDeny, NodeId(2))
        );
        // After the grace, grants are ordinary.
        let (r, _) = ask(&mut w, secs(11), &active_req(2));
        assert_eq!(
            (r.message, r.flags),
            (v2::Message::LeaseGrant, Flags::empty())
        );
    }

    #[test]
    fn release_frees_at_once_but_only_by_the_holder() {
        let mut w = witness(secs(0));
        ask(&mut w, secs(10), &request(1, 1, 10_000));
        let (reply, _) = w.handle_request(secs(11), FROM.parse().unwrap(), &release(2, 1));
        assert!(reply.is_none());
        assert_eq!(w.holder(secs(11)).map(|h| h.0), Some(NodeId(1)));
        w.handle_request(secs(11), FROM.parse().unwrap(), &release(1, 2));
        assert_eq!(w.holder(secs(11)), None);
        let (r, _) = ask(&mut w, secs(11), &request(2, 2, 10_000));
        assert_eq!(r.message, v2::Message::LeaseGrant);
    }

    #[test]
    fn a_release_overtaken_by_a_later_request_frees_nothing() {
        // Found by the simulator (arbiter + loss): a router that lost its lease released it and
        // asked again at once; the request arrived first and was granted, the late release
        // then freed that grant and the partner got the lease too: both active.
        let mut w = witness(secs(0));
        ask(&mut w, secs(10), &request(1, 1, 10_000));
        let (r, _) = ask(&mut w, secs(12), &request(1, 3, 10_000));
        assert_eq!(r.message, v2::Message::LeaseGrant);
        w.handle_request(secs(12), FROM.parse().unwrap(), &release(1, 2));
        assert_eq!(
            w.holder(secs(12)).map(|h| h.0),
            Some(NodeId(1)),
            "stale release ignored"
        );
        let (r, _) = ask(&mut w, secs(12), &request(2, 1, 10_000));
        assert_eq!(r.message, v2::Message::LeaseDeny);
    }

    #[test]
    fn replayed_forged_and_unknown_requests_are_dropped() {
        let mut w = witness(secs(0));
        let req = request(1, 1, 10_000);
        ask(&mut w, secs(10), &req);
        let (reply, ev) = w.handle_request(secs(30), FROM.parse().unwrap(), &req);
        assert!(reply.is_none());
        assert_eq!(
            ev,
            WitnessEvent::Rejected {
                why: RejectReason::Replayed
            }
        );
        let mut forged = request(2, 5, 10_000);
        forged[60] ^= 1;
        let (reply, ev) = w.handle_request(secs(30), FROM.parse().unwrap(), &forged);
        assert!(reply.is_none());
        assert_eq!(
            ev,
            WitnessEvent::Rejected {
                why: RejectReason::Unauthenticated
            }
        );
        let (_, ev) = w.handle_request(secs(30), FROM.parse().unwrap(), &request(9, 1, 10_000));
        assert_eq!(
            ev,
            WitnessEvent::Rejected {
                why: RejectReason::WrongNode
            }
        );
        let (_, ev) = w.handle_request(secs(30), FROM.parse().unwrap(), &[0xda, 0xdb, 0xad, 0xbd]);
        assert_eq!(
            ev,
            WitnessEvent::Rejected {
                why: RejectReason::Length
            }
        );
        assert_eq!(w.counters().rejected, 4);
        assert_eq!(w.holder(secs(15)).map(|h| h.0), Some(NodeId(1)));
    }

    proptest::proptest! {
        /// Arbitrary datagrams never panic the witness and never obtain a lease.
        #[test]
        fn arbitrary_bytes_never_grant(packets in proptest::collection::vec(
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100), 1..20)
        ) {
            let mut w = witness(secs(0));
            for (k, bytes) in packets.iter().enumerate() {
                let (reply, ev) = w.handle_request(secs(20 + k as u64), FROM.parse().unwrap(), bytes);
                proptest::prop_assert!(reply.is_none());
                let rejected = matches!(ev, WitnessEvent::Rejected { .. });
                proptest::prop_assert!(rejected);
            }
            proptest::prop_assert_eq!(w.holder(secs(30)), None);
        }
    }
}
