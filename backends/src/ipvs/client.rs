//! The IPVS netlink client: one generic netlink socket, requests encoded by [`super::codec`].
//!
//! Table changes are batched: up to [`BATCH`] requests go out in one `sendmsg` (the kernel
//! processes every message of a datagram in turn and queues one ACK each), then the ACKs are
//! collected. `ipvsadm -R` does one request and one ACK round trip per line; this is where the
//! difference in speed comes from. The batch is bounded so the ACKs always fit the socket's
//! receive buffer (an overflowing buffer would drop ACKs with ENOBUFS).
//!
//! Calls are synchronous: every request completes inside the kernel during the system call, in
//! microseconds, so the async [`Ipvs`](piranha_engine::ports::Ipvs) implementation simply
//! runs them under the client's lock.

use std::io;
use std::sync::Mutex;

use neli::consts::genl::{CtrlAttr, CtrlCmd};
use neli::consts::nl::{GenlId, NlmF};
use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;
use piranha_engine::ipvs::listing::ListingInfo;
use piranha_engine::ipvs::{Op, ServiceKey, Table, Timeouts};

use super::codec::{self, Attr, CodecError, DaemonState, GenlMsg};
use super::consts::{cmd, daemon, FAMILY_NAME};
use super::decode::{self, DestDump, ReplyKind, ServiceDump};
use super::error::{describe_op, IpvsError};

/// Requests sent per `sendmsg` before their ACKs are read (fits the default 208 KiB receive
/// buffer with room to spare: an ACK costs well under 1 KiB of it).
pub const BATCH: usize = 128;

/// Receive buffer for one datagram (dump chunks are at most 32 KiB).
const RECV_BUF: usize = 128 * 1024;

/// Upper bound on datagrams read for one request or batch (a dump of 100,000 destinations is
/// well under this): the loops are bounded even if the kernel misbehaves.
const MAX_DATAGRAMS: usize = 1 << 20;

struct Conn {
    sock: NlSocket,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

/// A connection to the kernel's IPVS (in this process's network namespace).
pub struct IpvsClient {
    conn: Mutex<Conn>,
}

impl std::fmt::Debug for IpvsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpvsClient").finish_non_exhaustive()
    }
}

impl IpvsClient {
    /// Open a generic netlink socket and resolve the "IPVS" family.
    /// [`IpvsError::Unavailable`] when the kernel has no IPVS (module not loaded).
    pub fn connect() -> Result<IpvsClient, IpvsError> {
        let sock = NlSocket::connect(NlFamily::Generic, None, Groups::empty())?;
        sock.block()?;
        // A hint; the kernel caps it at net.core.rmem_max. BATCH fits the default anyway.
        let _ = sock.set_recv_buffer_size(1 << 20);
        let mut conn = Conn {
            sock,
            family: u16::from(GenlId::Ctrl),
            seq: 1,
            buf: vec![0; RECV_BUF],
        };
        let name = codec::attr(u16::from(CtrlAttr::FamilyName), FAMILY_NAME)?;
        let seq = conn.next_seq();
        let bytes = codec::message(
            u16::from(GenlId::Ctrl),
            NlmF::REQUEST | NlmF::ACK,
            seq,
            u8::from(CtrlCmd::Getfamily),
            2,
            vec![name],
        )?;
        let replies = match conn.transact(seq, &bytes, false) {
            Ok(r) => r,
            Err(Fail::Errno(2)) => return Err(IpvsError::Unavailable), // ENOENT: no such family
            Err(e) => return Err(e.into_error("resolve the IPVS netlink family")),
        };
        let id = replies
            .iter()
            .find_map(|m| {
                let h = m.attrs().get_attr_handle();
                decode::raw(&h, u16::from(CtrlAttr::FamilyId))
                    .filter(|b| b.len() >= 2)
                    .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            })
            .ok_or(IpvsError::Unavailable)?;
        conn.family = id;
        Ok(IpvsClient {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        // A panic while holding the lock leaves the socket usable: take it anyway.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One request with an ACK; returns its data replies.
    fn call(&self, what: &str, command: u8, attrs: Vec<Attr>) -> Result<Vec<GenlMsg>, IpvsError> {
        let mut c = self.lock();
        let seq = c.next_seq();
        let bytes = codec::request(c.family, seq, command, attrs)?;
        c.transact(seq, &bytes, false)
            .map_err(|e| e.into_error(what))
    }

    /// One dump; returns every data message.
    fn dump(&self, what: &str, command: u8, attrs: Vec<Attr>) -> Result<Vec<GenlMsg>, IpvsError> {
        let mut c = self.lock();
        let seq = c.next_seq();
        let bytes = codec::dump_request(c.family, seq, command, attrs)?;
        c.transact(seq, &bytes, true)
            .map_err(|e| e.into_error(what))
    }

    /// `IPVS_CMD_GET_INFO`: version and connection table size (the `ipvsadm -Ln` header).
    pub fn info(&self) -> Result<ListingInfo, IpvsError> {
        let msgs = self.call("read IPVS info", cmd::GET_INFO, Vec::new())?;
        let msg = msgs
            .first()
            .ok_or_else(|| CodecError::Decode("GET_INFO: no reply".into()))?;
        Ok(decode::info_of(msg)?)
    }

    /// `IPVS_CMD_GET_CONFIG`: the global connection timeouts.
    pub fn timeouts(&self) -> Result<Timeouts, IpvsError> {
        let msgs = self.call("read timeouts", cmd::GET_CONFIG, Vec::new())?;
        let msg = msgs
            .first()
            .ok_or_else(|| CodecError::Decode("GET_CONFIG: no reply".into()))?;
        Ok(decode::timeouts_of(msg)?)
    }

    /// `IPVS_CMD_SET_CONFIG`: set the non-zero timeouts (zero keeps the kernel's value).
    pub fn set_timeouts(&self, t: Timeouts) -> Result<(), IpvsError> {
        let attrs = codec::timeouts_attrs(&t)?;
        if attrs.is_empty() {
            return Ok(());
        }
        let what = format!("set timeouts {} {} {}", t.tcp_s, t.tcpfin_s, t.udp_s);
        self.call(&what, cmd::SET_CONFIG, attrs).map(drop)
    }

    /// `IPVS_CMD_GET_SERVICE` dump.
    pub fn services(&self) -> Result<Vec<ServiceDump>, IpvsError> {
        let msgs = self.dump("list services", cmd::GET_SERVICE, Vec::new())?;
        msgs.iter()
            .map(|m| decode::service_of(m).map_err(IpvsError::from))
            .collect()
    }

    /// `IPVS_CMD_GET_DEST` dump of one service.
    pub fn dests(&self, service: &ServiceKey) -> Result<Vec<DestDump>, IpvsError> {
        let what = format!("list destinations of {service}");
        let msgs = self.dump(&what, cmd::GET_DEST, vec![codec::service_id_nest(service)?])?;
        msgs.iter()
            .map(|m| decode::dest_of(m, service.family()).map_err(IpvsError::from))
            .collect()
    }

    /// Every service with its destinations, counters included (`ipvsadm -Ln --stats`), in
    /// the kernel's order. Services deleted between the dumps are left out.
    pub fn detailed(&self) -> Result<Vec<(ServiceDump, Vec<DestDump>)>, IpvsError> {
        let mut out = Vec::new();
        for s in self.services()? {
            match self.dests(&s.service.key) {
                Err(IpvsError::Refused { errno: 3, .. }) => continue,
                Ok(dests) => out.push((s, dests)),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The whole table: a services dump, then one destinations dump per service. A service
    /// deleted between the two dumps (ESRCH) is left out, as if the services dump had been
    /// taken a moment later.
    pub fn table(&self) -> Result<Table, IpvsError> {
        let mut table = Table::new();
        for (s, dests) in self.detailed()? {
            let key = s.service.key;
            table.upsert_service(s.service);
            for d in dests {
                table.upsert_dest(&key, d.dest);
            }
        }
        Ok(table)
    }

    /// Apply `ops` in order, [`BATCH`] per system call. On a refusal: the index of the first
    /// refused op and why. The kernel goes on with the rest of that op's batch (netlink does
    /// not stop a datagram at an error), so later ops of the same batch may have been applied:
    /// callers reconcile from a fresh dump after an error, as the director does anyway.
    pub fn apply(&self, ops: &[Op]) -> Result<(), (usize, IpvsError)> {
        let mut c = self.lock();
        for (n, chunk) in ops.chunks(BATCH).enumerate() {
            let first = c.seq;
            let mut bytes = Vec::with_capacity(chunk.len() * 128);
            for op in chunk {
                let seq = c.next_seq();
                let encoded = codec::op_request(op)
                    .and_then(|(command, attrs)| codec::request(c.family, seq, command, attrs));
                match encoded {
                    Ok(b) => bytes.extend_from_slice(&b),
                    Err(e) => return Err((n * BATCH + (seq - first) as usize, e.into())),
                }
            }
            let failed = c
                .batch(first, chunk.len(), &bytes)
                .map_err(|e| (n * BATCH, e))?;
            if let Some((i, errno)) = failed {
                let op = &chunk[i];
                return Err((
                    n * BATCH + i,
                    IpvsError::refused_op(&describe_op(op), op, errno),
                ));
            }
        }
        Ok(())
    }

    /// `IPVS_CMD_FLUSH`: delete every service.
    pub fn flush(&self) -> Result<(), IpvsError> {
        self.call("flush the table", cmd::FLUSH, Vec::new())
            .map(drop)
    }

    /// `IPVS_CMD_ZERO`: zero the counters of one service, or of all.
    pub fn zero(&self, service: Option<&ServiceKey>) -> Result<(), IpvsError> {
        let (what, attrs) = match service {
            Some(k) => (
                format!("zero counters of {k}"),
                vec![codec::service_id_nest(k)?],
            ),
            None => ("zero counters".to_string(), Vec::new()),
        };
        self.call(&what, cmd::ZERO, attrs).map(drop)
    }

    /// `IPVS_CMD_GET_DAEMON`: the running sync threads.
    pub fn daemons(&self) -> Result<Vec<DaemonState>, IpvsError> {
        let msgs = self.dump("list sync daemons", cmd::GET_DAEMON, Vec::new())?;
        msgs.iter()
            .map(|m| decode::daemon_of(m).map_err(IpvsError::from))
            .collect()
    }

    /// `IPVS_CMD_NEW_DAEMON`.
    pub fn start_daemon(&self, d: &DaemonState) -> Result<(), IpvsError> {
        let what = format!(
            "start sync daemon {} on {} id {}",
            role_name(d.state),
            d.iface,
            d.sync_id
        );
        self.call(&what, cmd::NEW_DAEMON, vec![codec::daemon_nest(d, true)?])
            .map(drop)
    }

    /// `IPVS_CMD_DEL_DAEMON` of the thread in `state` (master 1, backup 2).
    pub fn stop_daemon(&self, state: u32) -> Result<(), IpvsError> {
        let d = DaemonState::new(state, "", 0);
        let what = format!("stop sync daemon {}", role_name(state));
        self.call(&what, cmd::DEL_DAEMON, vec![codec::daemon_nest(&d, false)?])
            .map(drop)
    }

    /// Make the running sync threads exactly `want` (idempotent: a thread already running
    /// with the same interface and id is left alone).
    pub fn set_daemons(&self, want: &[DaemonState]) -> Result<(), IpvsError> {
        let have = self.daemons()?;
        for state in [daemon::STATE_MASTER, daemon::STATE_BACKUP] {
            let h = have.iter().find(|d| d.state == state);
            let w = want.iter().find(|d| d.state == state);
            let same = match (h, w) {
                (None, None) => true,
                (Some(h), Some(w)) => h.same_thread(w),
                _ => false,
            };
            if same {
                continue;
            }
            if h.is_some() {
                self.stop_daemon(state)?;
            }
            if let Some(w) = w {
                self.start_daemon(w)?;
            }
        }
        Ok(())
    }
}

fn role_name(state: u32) -> &'static str {
    match state {
        daemon::STATE_MASTER => "master",
        daemon::STATE_BACKUP => "backup",
        _ => "unknown",
    }
}

/// How a request failed: refused by the kernel (errno), or a transport/decoding problem.
enum Fail {
    Errno(i32),
    Other(IpvsError),
}

impl Fail {
    fn into_error(self, what: &str) -> IpvsError {
        match self {
            Fail::Errno(errno) => IpvsError::refused(what, errno),
            Fail::Other(e) => e,
        }
    }
}

impl<E: Into<IpvsError>> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail::Other(e.into())
    }
}

impl Conn {
    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1).max(1);
        s
    }

    fn recv(&mut self) -> Result<Vec<decode::Reply>, IpvsError> {
        let (n, _) = self.sock.recv(&mut self.buf[..], Msg::empty())?;
        if n == 0 {
            return Err(IpvsError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "netlink socket closed",
            )));
        }
        Ok(decode::parse_replies(&self.buf[..n])?)
    }

    /// Send one request and read until its ACK (or DONE for a dump).
    fn transact(&mut self, seq: u32, bytes: &[u8], is_dump: bool) -> Result<Vec<GenlMsg>, Fail> {
        self.sock.send(bytes, Msg::empty())?;
        let mut data = Vec::new();
        for _ in 0..MAX_DATAGRAMS {
            for reply in self.recv()? {
                if reply.seq != seq {
                    continue; // a late answer to an earlier, abandoned request
                }
                match reply.kind {
                    ReplyKind::Data(m) => data.push(m),
                    ReplyKind::Ack if !is_dump => return Ok(data),
                    ReplyKind::Ack => {}
                    ReplyKind::Done(0) => return Ok(data),
                    ReplyKind::Done(e) | ReplyKind::Error(e) => return Err(Fail::Errno(e.abs())),
                }
            }
        }
        Err(Fail::Other(IpvsError::Protocol(
            "no end to the kernel's reply".into(),
        )))
    }

    /// Send a batch of `count` requests numbered from `first`; read every ACK. `Ok(Some((i,
    /// errno)))`: the first refused request of the batch.
    fn batch(
        &mut self,
        first: u32,
        count: usize,
        bytes: &[u8],
    ) -> Result<Option<(usize, i32)>, IpvsError> {
        self.sock.send(bytes, Msg::empty())?;
        let mut pending = count;
        let mut failed: Option<(usize, i32)> = None;
        for _ in 0..MAX_DATAGRAMS {
            if pending == 0 {
                return Ok(failed);
            }
            for reply in self.recv()? {
                let i = reply.seq.wrapping_sub(first) as usize;
                if i >= count {
                    continue;
                }
                match reply.kind {
                    ReplyKind::Ack => pending -= 1,
                    ReplyKind::Error(errno) => {
                        pending -= 1;
                        if failed.is_none_or(|(j, _)| i < j) {
                            failed = Some((i, errno));
                        }
                    }
                    ReplyKind::Data(_) | ReplyKind::Done(_) => {}
                }
            }
        }
        Err(IpvsError::Protocol("missing ACKs for a batch".into()))
    }
}
