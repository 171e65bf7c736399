//! Freshness of v2 packets: a sliding window over (incarnation, sequence), as IPsec's
//! anti-replay window (RFC 4303 §3.4.3) but keyed by the sender's boot epoch too.
//!
//! Unlike IPsec, the window starts *closed*: sequences below the first one accepted from an
//! incarnation are refused (but for the two just below it: the partner's other path), so a
//! beat recorded while this router was down cannot be replayed once it hears the partner.
//! The window lives in memory; across this router's own restarts, freshness comes from the
//! partner's echo of our incarnation (see `receive.rs`).

use super::output::RejectReason;

/// Width of the window: sequences up to this far below the newest are accepted once.
pub const WINDOW: u64 = 64;

/// Per-sender replay state. A newer incarnation resets the window; an older one is stale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    newest: Option<(u64, u64)>,
    /// Bit i set: sequence `newest - i` was seen.
    seen: u64,
}

impl ReplayWindow {
    /// Accept (and remember) `(incarnation, sequence)`, or say why not. Call only after
    /// the packet authenticated.
    pub fn check_and_update(
        &mut self,
        incarnation: u64,
        sequence: u64,
    ) -> Result<(), RejectReason> {
        match self.newest {
            Some((inc, _)) if incarnation < inc => Err(RejectReason::StaleIncarnation),
            Some((inc, top)) if incarnation == inc => {
                if sequence > top {
                    let shift = sequence - top;
                    self.seen = if shift >= WINDOW {
                        0
                    } else {
                        self.seen << shift
                    };
                    self.seen |= 1;
                    self.newest = Some((inc, sequence));
                    Ok(())
                } else {
                    let back = top - sequence;
                    if back >= WINDOW || self.seen & (1 << back) != 0 {
                        Err(RejectReason::Replayed)
                    } else {
                        self.seen |= 1 << back;
                        Ok(())
                    }
                }
            }
            _ => {
                // Everything this incarnation sent before the first packet we accept counts
                // as seen, but for the two just below it: the partner numbers its beats
                // across paths, so the other path's beat of the same round may arrive second
                // (refusing it logged a spurious "Replayed" at every start). Replays from
                // before our own start are refused by the echo of our incarnation instead.
                self.newest = Some((incarnation, sequence));
                self.seen = !0b110;
                Ok(())
            }
        }
    }

    /// The newest (incarnation, sequence) accepted.
    pub fn newest(&self) -> Option<(u64, u64)> {
        self.newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_then_replay() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check_and_update(5, 1), Ok(()));
        assert_eq!(w.check_and_update(5, 2), Ok(()));
        assert_eq!(w.check_and_update(5, 2), Err(RejectReason::Replayed));
        assert_eq!(w.check_and_update(5, 1), Err(RejectReason::Replayed));
        assert_eq!(w.newest(), Some((5, 2)));
    }

    #[test]
    fn reordering_inside_window_accepted_once() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check_and_update(1, 50), Ok(()));
        assert_eq!(w.check_and_update(1, 100), Ok(()));
        assert_eq!(w.check_and_update(1, 90), Ok(()));
        assert_eq!(w.check_and_update(1, 90), Err(RejectReason::Replayed));
        assert_eq!(w.check_and_update(1, 60), Ok(()));
        // The two just below the first accepted (the other path's beat of the same round,
        // arriving second) are accepted once; further below, or 64 and more below the
        // newest: refused.
        assert_eq!(w.check_and_update(1, 49), Ok(()));
        assert_eq!(w.check_and_update(1, 48), Ok(()));
        assert_eq!(w.check_and_update(1, 48), Err(RejectReason::Replayed));
        assert_eq!(w.check_and_update(1, 47), Err(RejectReason::Replayed));
        assert_eq!(w.check_and_update(1, 36), Err(RejectReason::Replayed));
        // A jump beyond the window forgets everything below.
        assert_eq!(w.check_and_update(1, 1000), Ok(()));
        assert_eq!(w.check_and_update(1, 999), Ok(()));
        assert_eq!(w.check_and_update(1, 100), Err(RejectReason::Replayed));
    }

    #[test]
    fn nothing_older_than_the_first_accepted_packet() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check_and_update(3, 40), Ok(()));
        assert_eq!(w.check_and_update(3, 37), Err(RejectReason::Replayed));
        assert_eq!(w.check_and_update(3, 39), Ok(()));
        assert_eq!(w.check_and_update(4, 10), Ok(()));
        assert_eq!(w.check_and_update(4, 7), Err(RejectReason::Replayed));
        assert_eq!(w.check_and_update(4, 8), Ok(()));
    }

    #[test]
    fn incarnations() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check_and_update(7, 500), Ok(()));
        // A restart: new incarnation, sequence from 1 again.
        assert_eq!(w.check_and_update(8, 1), Ok(()));
        assert_eq!(
            w.check_and_update(7, 501),
            Err(RejectReason::StaleIncarnation)
        );
        assert_eq!(w.check_and_update(8, 1), Err(RejectReason::Replayed));
        assert_eq!(w.newest(), Some((8, 1)));
    }
}
