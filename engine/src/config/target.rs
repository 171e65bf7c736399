//! Where a statement goes: the block being filled, as an index into the model, and the
//! model type its key table writes to.

use std::collections::BTreeMap;

use super::model::{Comments, Failover, LvsConfig, RealServer, VirtualServer};
use super::parse::{KeySpan, Spans};
use super::validate::Place;

/// Where a statement goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Global,
    Virtual(usize),
    Server(usize, usize),
    Failover(usize),
    /// A `server` block inside a `failover` block.
    FailoverServer(usize, usize),
}

impl Target {
    pub(crate) fn place(self, key: &'static str) -> Place {
        let key = Some(key);
        match self {
            Target::Global => Place::Global { key },
            Target::Virtual(index) => Place::Virtual { index, key },
            Target::Server(virtual_index, index) => Place::Server {
                virtual_index,
                index,
                key,
            },
            Target::Failover(index) => Place::Failover { index, key },
            // Not validated (unused): problems are reported on the failover block.
            Target::FailoverServer(index, _) => Place::Failover { index, key: None },
        }
    }

    pub(crate) fn scope_name(self) -> &'static str {
        match self {
            Target::Global => "global",
            Target::Virtual(_) => "virtual",
            Target::Server(..) | Target::FailoverServer(..) => "server",
            Target::Failover(_) => "failover",
        }
    }

    pub(crate) fn resolve<'a, T: Pick>(
        self,
        cfg: &'a mut LvsConfig,
        spans: &'a mut Spans,
    ) -> Option<(&'a mut BTreeMap<&'static str, KeySpan>, &'a mut T)> {
        T::pick(self, cfg, spans)
    }
}

/// The model type a key table writes to.
pub(crate) trait Pick: Sized + 'static {
    fn pick<'a>(
        at: Target,
        cfg: &'a mut LvsConfig,
        spans: &'a mut Spans,
    ) -> Option<(&'a mut BTreeMap<&'static str, KeySpan>, &'a mut Self)>;
    fn comments(&mut self) -> &mut Comments;
}

impl Pick for LvsConfig {
    fn pick<'a>(
        _: Target,
        cfg: &'a mut LvsConfig,
        spans: &'a mut Spans,
    ) -> Option<(&'a mut BTreeMap<&'static str, KeySpan>, &'a mut Self)> {
        Some((&mut spans.global, cfg))
    }
    fn comments(&mut self) -> &mut Comments {
        &mut self.comments
    }
}

impl Pick for VirtualServer {
    fn pick<'a>(
        at: Target,
        cfg: &'a mut LvsConfig,
        spans: &'a mut Spans,
    ) -> Option<(&'a mut BTreeMap<&'static str, KeySpan>, &'a mut Self)> {
        let Target::Virtual(v) = at else { return None };
        Some((
            &mut spans.virtuals.get_mut(v)?.keys,
            cfg.virtuals.get_mut(v)?,
        ))
    }
    fn comments(&mut self) -> &mut Comments {
        &mut self.comments
    }
}

impl Pick for RealServer {
    fn pick<'a>(
        at: Target,
        cfg: &'a mut LvsConfig,
        spans: &'a mut Spans,
    ) -> Option<(&'a mut BTreeMap<&'static str, KeySpan>, &'a mut Self)> {
        match at {
            Target::Server(v, s) => {
                let span = spans.virtuals.get_mut(v)?.servers.get_mut(s)?;
                Some((&mut span.keys, cfg.virtuals.get_mut(v)?.servers.get_mut(s)?))
            }
            Target::FailoverServer(f, s) => {
                let span = spans.failovers.get_mut(f)?.servers.get_mut(s)?;
                Some((
                    &mut span.keys,
                    cfg.failovers.get_mut(f)?.servers.get_mut(s)?,
                ))
            }
            _ => None,
        }
    }
    fn comments(&mut self) -> &mut Comments {
        &mut self.comments
    }
}

impl Pick for Failover {
    fn pick<'a>(
        at: Target,
        cfg: &'a mut LvsConfig,
        spans: &'a mut Spans,
    ) -> Option<(&'a mut BTreeMap<&'static str, KeySpan>, &'a mut Self)> {
        let Target::Failover(f) = at else { return None };
        Some((
            &mut spans.failovers.get_mut(f)?.keys,
            cfg.failovers.get_mut(f)?,
        ))
    }
    fn comments(&mut self) -> &mut Comments {
        &mut self.comments
    }
}
