//! `piranha bench kernel-sched` (hidden): the guest side of the kernel scheduler differential
//! (tests/kernel_sched.rs, run inside the kernel VM by tests/kernel/sched.sh).
//!
//! It builds one fwmark service per scheduler (and a few flag/persistence variants) in the
//! real kernel's IPVS, then plays a seeded random sequence against all of them, interleaved:
//! new connections (a TCP SYN or a UDP datagram from many client addresses and ports, to
//! many destination addresses), handshakes completed (ACK), connections half-closed (FIN)
//! and reset (RST), weight changes, quiescing, thresholds, destinations added and removed.
//! It prints every operation and the kernel's answer as a transcript on stdout; the host
//! replays the transcript through `piranha_engine::sched` and requires the same choices.
//!
//! How the kernel is driven and observed:
//! - Packets are sent from a raw socket (`IPPROTO_RAW`, our own IPv4/TCP/UDP headers with
//!   spoofed client addresses) carrying the service's firewall mark (`SO_MARK`); IPVS
//!   schedules them at LOCAL_OUT and NATs them to the chosen real server.
//! - The real servers (10.100.S.K) are routed out of `--iface` (a veth with ARP off, so
//!   frames leave synchronously, in order); an `AF_PACKET` capture there sees the NATed
//!   packet, whose destination is the kernel's choice. After each packet a UDP sentinel goes
//!   the same way: reaching the sentinel without the NATed packet means "no destination".
//! - Counters: the kernel's dest dump (netlink, list order) at checkpoints. A connection's
//!   counter follows the kernel's rules, as measured: a TCP connection counts active from
//!   its SYN on (SYN_RECV, then ESTABLISHED after the ACK) and inactive after FIN
//!   (CLOSE_WAIT) or RST (CLOSE); a UDP connection counts inactive.
//!   Closed connections leave the counters when they expire (CLOSE: 10 s): at the end of a
//!   round every SYN_RECV connection is ACKed, every CLOSE_WAIT and some ESTABLISHED ones
//!   reset, and the driver waits until the reset ones are gone from the counters (the
//!   `barrier` line).
//!
//! Transcript lines (all start with `@`; S = scenario index, N = connection number):
//! `@scenario S NAME ALG fallback port persist_s netmask`, `@skip NAME why`,
//! `@add S ID ADDR PORT WEIGHT`, `@w S ID WEIGHT`, `@th S ID UPPER LOWER`, `@del S ID`,
//! `@c S N T_MS t|u SRC SPORT DST DPORT ID|-`, `@ack S N`, `@fin S N`, `@rst S N`,
//! `@barrier T_MS`, `@k S ID:WEIGHT:ACTIVE:INACTIVE ...` (kernel list order), `@done N`.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use piranha_backends::ipvs::IpvsClient;
use piranha_engine::ipvs::Timeouts;
use piranha_engine::ipvs::{Dest, Family, Forwarding, Op, Service, ServiceFlags, ServiceKey};
use piranha_engine::sched::{Algorithm, SchedFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Arguments of `piranha bench kernel-sched`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The interface the real servers' addresses are routed out of (captured).
    #[arg(long, default_value = "sched0")]
    iface: String,
    /// Seed of the operation sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Rounds (each ends with every connection ACKed or reset and a wait for expiry).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Steps per scenario per round (about 70% are new connections).
    #[arg(long, default_value_t = 400)]
    steps: usize,
    /// A checkpoint (the kernel's counters) every this many steps.
    #[arg(long, default_value_t = 100)]
    check_every: usize,
    /// Required: this machine's IPVS table is scratch (the driver flushes it, and expects
    /// sched.sh's routes). Without it the command refuses, so it cannot empty a director.
    #[arg(long)]
    scratch: bool,
    /// Only the scenarios with these names (all when none is given).
    #[arg(long)]
    only: Vec<String>,
}

/// Where the sentinel datagrams go (routed out of the captured interface).
const SENTINEL: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 1);
/// Destination addresses clients connect to (dh, lblc and lblcr hash them).
const VIPS: u32 = 40;
/// Client addresses per scenario.
const CLIENTS: u32 = 300;
/// The most destinations a scenario has in its list at once.
const MAX_DESTS: usize = 14;

/// splitmix64: the sequence is reproducible from `--seed`.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
}

struct Spec {
    name: &'static str,
    alg: Algorithm,
    flags: SchedFlags,
    /// (timeout s, netmask)
    persist: Option<(u32, Ipv4Addr)>,
}

fn specs() -> Vec<Spec> {
    let mut v: Vec<Spec> = Algorithm::ALL
        .iter()
        .map(|&alg| Spec {
            name: alg.as_str(),
            alg,
            flags: SchedFlags::default(),
            persist: None,
        })
        .collect();
    let both = SchedFlags {
        fallback: true,
        port: true,
    };
    v.push(Spec {
        name: "sh-fallback-port",
        alg: Algorithm::Sh,
        flags: both,
        persist: None,
    });
    v.push(Spec {
        name: "mh-fallback-port",
        alg: Algorithm::Mh,
        flags: both,
        persist: None,
    });
    v.push(Spec {
        name: "wlc-persistent",
        alg: Algorithm::Wlc,
        flags: SchedFlags::default(),
        persist: Some((600, Ipv4Addr::new(255, 255, 255, 240))),
    });
    v.push(Spec {
        name: "rr-persistent",
        alg: Algorithm::Rr,
        flags: SchedFlags::default(),
        persist: Some((600, Ipv4Addr::new(255, 255, 255, 255))),
    });
    v
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    SynRecv,
    Est,
    CloseWait,
    Close,
    Udp,
    /// Closed and expired, or its destination left the service (its packets are dropped).
    Gone,
}

struct Conn {
    scen: usize,
    dest: usize,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    st: St,
}

struct DestCfg {
    addr: Ipv4Addr,
    port: u16,
    weight: u32,
    upper: u32,
    lower: u32,
    in_list: bool,
}

struct Scen {
    idx: usize,
    key: ServiceKey,
    sock: Socket,
    dests: Vec<DestCfg>,
    conns: Vec<usize>,
}

impl Scen {
    fn dest(&self, id: usize) -> Dest {
        let d = &self.dests[id];
        let mut dest = Dest::new(IpAddr::V4(d.addr), d.port, Forwarding::Masq, d.weight);
        dest.u_threshold = d.upper;
        dest.l_threshold = d.lower;
        dest
    }
    fn in_list(&self) -> Vec<usize> {
        (0..self.dests.len())
            .filter(|&i| self.dests[i].in_list)
            .collect()
    }
}

/// Internet checksum over `data`, starting from a partial sum.
fn checksum(mut sum: u32, data: &[u8]) -> u16 {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet around `l4` (protocol `proto`), with its L4 checksum at `csum_at` filled.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, mut l4: Vec<u8>, csum_at: usize) -> Vec<u8> {
    let mut pseudo = 0u32;
    for w in [src.octets(), dst.octets()] {
        pseudo += u32::from(u16::from_be_bytes([w[0], w[1]]));
        pseudo += u32::from(u16::from_be_bytes([w[2], w[3]]));
    }
    pseudo += u32::from(proto) + l4.len() as u32;
    let c = checksum(pseudo, &l4);
    l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    let total = (20 + l4.len()) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum(0, &p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&l4);
    p
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, flags: u8) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&80u16.to_be_bytes());
    h[4..8].copy_from_slice(&1000u32.to_be_bytes());
    if flags & ACK != 0 {
        h[8..12].copy_from_slice(&1u32.to_be_bytes());
    }
    h[12] = 5 << 4;
    h[13] = flags;
    h[14..16].copy_from_slice(&65535u16.to_be_bytes());
    ipv4(src, dst, 6, h, 16)
}

fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr) -> Vec<u8> {
    let mut h = vec![0u8; 12];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&53u16.to_be_bytes());
    h[4..6].copy_from_slice(&12u16.to_be_bytes());
    h[8..12].copy_from_slice(b"pira");
    ipv4(src, dst, 17, h, 6)
}

/// What the capture saw of one IPv4 frame: protocol, source, source port, destination,
/// destination port, first 8 payload bytes of UDP.
struct Seen {
    proto: u8,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    udp_payload: [u8; 8],
}

fn parse_frame(f: &[u8]) -> Option<Seen> {
    if f.len() < 14 + 20 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let l4 = ip.get(ihl..)?;
    if l4.len() < 8 {
        return None;
    }
    let mut udp_payload = [0u8; 8];
    if let Some(p) = l4.get(8..16) {
        udp_payload.copy_from_slice(p);
    }
    Some(Seen {
        proto: ip[9],
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        sport: u16::from_be_bytes([l4[0], l4[1]]),
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        dport: u16::from_be_bytes([l4[2], l4[3]]),
        udp_payload,
    })
}

struct Driver {
    ipvs: IpvsClient,
    rx: Box<dyn pnet_datalink::DataLinkReceiver>,
    sentinel: UdpSocket,
    sentinel_seq: u64,
    rng: Rng,
    scens: Vec<Scen>,
    conns: Vec<Conn>,
    /// Real server address -> (scenario, dest id). (Persistent fwmark services keep the
    /// client's destination port, so the address alone identifies the server.)
    servers: HashMap<Ipv4Addr, (usize, usize)>,
    out: BufWriter<std::io::Stdout>,
    start: Instant,
    decisions: usize,
    sent_since_sync: usize,
}

impl Args {
    /// Run the driver (inside the VM, as root).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if !self.scratch {
            bail!("bench kernel-sched flushes this machine's IPVS table: it runs in the test VM (tests/kernel/sched.sh passes --scratch)");
        }
        let ipvs = IpvsClient::connect().context("connect to IPVS")?;
        ipvs.flush().context("flush IPVS")?;
        ipvs.set_timeouts(Timeouts {
            tcp_s: 3600,
            tcpfin_s: 3600,
            udp_s: 3600,
        })
        .context("set timeouts")?;
        let iface = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == self.iface)
            .with_context(|| format!("no interface {}", self.iface))?;
        let config = pnet_datalink::Config {
            read_timeout: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        let rx = match pnet_datalink::channel(&iface, config).context("capture")? {
            pnet_datalink::Channel::Ethernet(_tx, rx) => rx,
            _ => bail!("{}: not an Ethernet channel", self.iface),
        };
        let sentinel = UdpSocket::bind("0.0.0.0:0").context("sentinel socket")?;
        let mut d = Driver {
            ipvs,
            rx,
            sentinel,
            sentinel_seq: 0,
            rng: Rng(self.seed),
            scens: Vec::new(),
            conns: Vec::new(),
            servers: HashMap::new(),
            out: BufWriter::new(std::io::stdout()),
            start: Instant::now(),
            decisions: 0,
            sent_since_sync: 0,
        };
        for (i, spec) in specs().into_iter().enumerate() {
            if !self.only.is_empty() && !self.only.iter().any(|o| o == spec.name) {
                continue;
            }
            d.setup(i, &spec)?;
        }
        d.sync()?;
        for _round in 0..self.rounds {
            for step in 0..self.steps {
                for s in 0..d.scens.len() {
                    d.step(s)?;
                }
                if step % self.check_every.max(1) == self.check_every.max(1) - 1 {
                    for s in 0..d.scens.len() {
                        d.checkpoint(s)?;
                    }
                }
            }
            d.round_end()?;
            for s in 0..d.scens.len() {
                d.checkpoint(s)?;
            }
        }
        writeln!(d.out, "@done {}", d.decisions)?;
        d.out.flush()?;
        d.ipvs.flush().context("flush IPVS")?;
        Ok(ExitCode::SUCCESS)
    }
}

impl Driver {
    fn ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }

    fn setup(&mut self, i: usize, spec: &Spec) -> anyhow::Result<()> {
        let mark = 100 + i as u32;
        let key = ServiceKey::Fwmark {
            family: Family::Inet,
            mark,
        };
        let mut svc = Service::new(key, spec.alg);
        let mut flags = spec.flags.to_service_flags();
        if let Some((timeout, mask)) = spec.persist {
            flags |= ServiceFlags::PERSISTENT.0;
            svc.timeout_s = timeout;
            svc.netmask = u32::from(mask);
        }
        svc.flags = ServiceFlags(flags);
        if let Err((_, e)) = self.ipvs.apply(&[Op::AddService(svc)]) {
            if spec.alg == Algorithm::Twos {
                writeln!(self.out, "@skip {} the kernel refused it: {e}", spec.name)?;
                return Ok(());
            }
            bail!("add service for {}: {e}", spec.name);
        }
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255)))
            .context("raw socket (needs root)")?;
        sock.set_mark(mark).context("SO_MARK")?;
        let idx = self.scens.len();
        let (fallback, port) = (u8::from(spec.flags.fallback), u8::from(spec.flags.port));
        let (ps, pm) = spec
            .persist
            .map_or((0, Ipv4Addr::BROADCAST), |(t, m)| (t, m));
        writeln!(
            self.out,
            "@scenario {idx} {} {} {fallback} {port} {ps} {pm}",
            spec.name, spec.alg
        )?;
        self.scens.push(Scen {
            idx,
            key,
            sock,
            dests: Vec::new(),
            conns: Vec::new(),
        });
        for _ in 0..6 {
            let w = 1 + self.rng.below(10);
            self.add_dest(idx, w)?;
        }
        Ok(())
    }

    fn add_dest(&mut self, s: usize, weight: u32) -> anyhow::Result<()> {
        let sc = &mut self.scens[s];
        let id = sc.dests.len();
        let addr = Ipv4Addr::new(10, 100, sc.idx as u8, id as u8 + 1);
        let port = 8000 + (id % 4) as u16;
        sc.dests.push(DestCfg {
            addr,
            port,
            weight,
            upper: 0,
            lower: 0,
            in_list: true,
        });
        let op = Op::AddDest {
            service: sc.key,
            dest: sc.dest(id),
        };
        self.servers.insert(addr, (s, id));
        self.ipvs
            .apply(&[op])
            .map_err(|(_, e)| anyhow::anyhow!("add dest: {e}"))?;
        writeln!(self.out, "@add {s} {id} {addr} {port} {weight}")?;
        Ok(())
    }

    fn edit_dest(&mut self, s: usize, id: usize) -> anyhow::Result<()> {
        let sc = &self.scens[s];
        let op = Op::EditDest {
            service: sc.key,
            dest: sc.dest(id),
        };
        self.ipvs
            .apply(&[op])
            .map_err(|(_, e)| anyhow::anyhow!("edit dest: {e}"))
    }

    fn send(&mut self, s: usize, pkt: &[u8], dst: Ipv4Addr) -> anyhow::Result<()> {
        let to = SockAddr::from(SocketAddr::new(IpAddr::V4(dst), 0));
        self.scens[s].sock.send_to(pkt, &to).context("raw send")?;
        self.sent_since_sync += 1;
        if self.sent_since_sync >= 32 {
            self.sync()?;
        }
        Ok(())
    }

    /// Sends a sentinel and reads the capture up to it; returns the first frame from
    /// `from` (client address, port) on the way, as (real server address, port).
    fn sentinel_and_find(
        &mut self,
        from: Option<(Ipv4Addr, u16)>,
    ) -> anyhow::Result<Option<(Ipv4Addr, u16)>> {
        self.sentinel_seq += 1;
        let seq = self.sentinel_seq.to_be_bytes();
        self.sentinel
            .send_to(&seq, SocketAddr::new(IpAddr::V4(SENTINEL), 9))
            .context("sentinel send")?;
        self.sent_since_sync = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut found = None;
        loop {
            if Instant::now() > deadline {
                bail!("the capture never saw sentinel {}", self.sentinel_seq);
            }
            let frame = match self.rx.next() {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e).context("capture"),
            };
            let Some(seen) = parse_frame(frame) else {
                continue;
            };
            if seen.proto == 17 && seen.dst == SENTINEL && seen.udp_payload == seq {
                return Ok(found);
            }
            if found.is_none() && Some((seen.src, seen.sport)) == from {
                found = Some((seen.dst, seen.dport));
            }
        }
    }

    fn sync(&mut self) -> anyhow::Result<()> {
        self.sentinel_and_find(None).map(|_| ())
    }

    fn step(&mut self, s: usize) -> anyhow::Result<()> {
        let r = self.rng.below(100);
        if r < 70 {
            return self.new_conn(s);
        }
        if r < 87 {
            return match self.pick(s, St::SynRecv) {
                Some(n) => self.transition(s, n, ACK, St::Est, "ack"),
                None => self.new_conn(s),
            };
        }
        if r < 95 {
            return match self.pick(s, St::Est) {
                Some(n) => self.transition(s, n, FIN | ACK, St::CloseWait, "fin"),
                None => self.new_conn(s),
            };
        }
        self.config_op(s)
    }

    /// A random connection of scenario `s` in state `st` (a few tries).
    fn pick(&mut self, s: usize, st: St) -> Option<usize> {
        let n = self.scens[s].conns.len() as u32;
        if n == 0 {
            return None;
        }
        for _ in 0..8 {
            let c = self.scens[s].conns[self.rng.below(n) as usize];
            if self.conns[c].st == st {
                return Some(c);
            }
        }
        None
    }

    fn transition(
        &mut self,
        s: usize,
        n: usize,
        flags: u8,
        to: St,
        what: &str,
    ) -> anyhow::Result<()> {
        let c = &self.conns[n];
        let pkt = tcp(c.src, c.sport, c.dst, flags);
        let dst = c.dst;
        self.send(s, &pkt, dst)?;
        self.conns[n].st = to;
        writeln!(self.out, "@{what} {s} {n}")?;
        Ok(())
    }

    fn new_conn(&mut self, s: usize) -> anyhow::Result<()> {
        let n = self.conns.len();
        let idx = self.scens[s].idx as u32;
        let client = self.rng.below(CLIENTS);
        let src = Ipv4Addr::from(0xac10_0000 | (idx << 12) | client);
        let sport = 1024 + (n % 64_000) as u16;
        let dst = Ipv4Addr::new(10, 200, 0, 1 + self.rng.below(VIPS) as u8);
        let is_tcp = self.rng.below(4) != 0;
        let pkt = if is_tcp {
            tcp(src, sport, dst, SYN)
        } else {
            udp(src, sport, dst)
        };
        let to = SockAddr::from(SocketAddr::new(IpAddr::V4(dst), 0));
        match self.scens[s].sock.send_to(&pkt, &to) {
            Ok(_) => {}
            // IPVS dropped it at LOCAL_OUT (no destination available): sendmsg says EPERM.
            Err(e) if e.raw_os_error() == Some(1) => {}
            Err(e) => return Err(e).context("raw send"),
        }
        let t = self.ms();
        let seen = self.sentinel_and_find(Some((src, sport)))?;
        self.decisions += 1;
        let (proto, dport) = if is_tcp { ('t', 80) } else { ('u', 53) };
        let chosen = match seen {
            None => None,
            Some(server) => match self.servers.get(&server.0) {
                Some(&(ss, id)) if ss == s => Some(id),
                _ => bail!("connection {n} went to {server:?}, not a server of scenario {s}"),
            },
        };
        let shown = chosen.map_or("-".to_string(), |id| id.to_string());
        writeln!(
            self.out,
            "@c {s} {n} {t} {proto} {src} {sport} {dst} {dport} {shown}"
        )?;
        let st = match (chosen, is_tcp) {
            (None, _) => St::Gone,
            (Some(_), true) => St::SynRecv,
            (Some(_), false) => St::Udp,
        };
        self.conns.push(Conn {
            scen: s,
            dest: chosen.unwrap_or(usize::MAX),
            src,
            sport,
            dst,
            st,
        });
        if chosen.is_some() {
            self.scens[s].conns.push(n);
        }
        Ok(())
    }

    fn config_op(&mut self, s: usize) -> anyhow::Result<()> {
        let list = self.scens[s].in_list();
        let k = self.rng.below(100);
        let id = list[self.rng.below(list.len() as u32) as usize];
        if k < 50 {
            let w = if self.rng.below(4) == 0 {
                0
            } else {
                1 + self.rng.below(12)
            };
            self.scens[s].dests[id].weight = w;
            self.edit_dest(s, id)?;
            writeln!(self.out, "@w {s} {id} {w}")?;
        } else if k < 65 {
            if list.len() < MAX_DESTS && self.scens[s].dests.len() < 250 {
                let w = 1 + self.rng.below(12);
                self.add_dest(s, w)?;
            }
        } else if k < 80 {
            if list.len() > 2 {
                let sc = &self.scens[s];
                let op = Op::DelDest {
                    service: sc.key,
                    dest: sc.dest(id).key(),
                };
                self.ipvs
                    .apply(&[op])
                    .map_err(|(_, e)| anyhow::anyhow!("del dest: {e}"))?;
                self.scens[s].dests[id].in_list = false;
                // Its connections' packets are dropped from now on: they stay as they are.
                for &c in &self.scens[s].conns {
                    if self.conns[c].dest == id {
                        self.conns[c].st = St::Gone;
                    }
                }
                writeln!(self.out, "@del {s} {id}")?;
            }
        } else {
            let upper = if self.rng.below(3) == 0 {
                0
            } else {
                2 + self.rng.below(8)
            };
            let lower = if upper == 0 || self.rng.below(2) == 0 {
                0
            } else {
                1 + self.rng.below(upper - 1)
            };
            let d = &mut self.scens[s].dests[id];
            d.upper = upper;
            d.lower = lower;
            self.edit_dest(s, id)?;
            writeln!(self.out, "@th {s} {id} {upper} {lower}")?;
        }
        Ok(())
    }

    /// Every SYN_RECV connection is ACKed, every CLOSE_WAIT one and a quarter of the
    /// established ones reset; then wait until the reset ones have expired.
    fn round_end(&mut self) -> anyhow::Result<()> {
        for n in 0..self.conns.len() {
            let s = self.conns[n].scen;
            match self.conns[n].st {
                St::SynRecv => self.transition(s, n, ACK, St::Est, "ack")?,
                St::CloseWait => self.transition(s, n, RST, St::Close, "rst")?,
                St::Est if self.rng.below(4) == 0 => {
                    self.transition(s, n, RST, St::Close, "rst")?
                }
                _ => {}
            }
        }
        self.sync()?;
        self.out.flush()?;
        // What stays inactive: UDP connections.
        let mut want: HashMap<(usize, usize), u32> = HashMap::new();
        for c in &self.conns {
            if c.st == St::Udp {
                *want.entry((c.scen, c.dest)).or_default() += 1;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let mut pending = 0;
            for (s, sc) in self.scens.iter().enumerate() {
                for d in self.ipvs.dests(&sc.key).context("dest dump")? {
                    let IpAddr::V4(a) = d.dest.addr else { continue };
                    let id = self.servers.get(&a).map_or(usize::MAX, |&(_, id)| id);
                    let w = want.get(&(s, id)).copied().unwrap_or(0);
                    pending += d.dest.conns.inactive.saturating_sub(w);
                }
            }
            if pending == 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        for c in &mut self.conns {
            if c.st == St::Close {
                c.st = St::Gone;
            }
        }
        writeln!(self.out, "@barrier {}", self.ms())?;
        Ok(())
    }

    /// The kernel's view of scenario `s`'s destinations, in list order.
    fn checkpoint(&mut self, s: usize) -> anyhow::Result<()> {
        let sc = &self.scens[s];
        let mut line = format!("@k {s}");
        for d in self.ipvs.dests(&sc.key).context("dest dump")? {
            let IpAddr::V4(a) = d.dest.addr else {
                bail!("unexpected IPv6 destination")
            };
            let Some(&(_, id)) = self.servers.get(&a) else {
                bail!("unknown destination {a}:{} in the kernel", d.dest.port)
            };
            let c = d.dest.conns;
            line.push_str(&format!(
                " {id}:{}:{}:{}",
                d.dest.weight, c.active, c.inactive
            ));
        }
        writeln!(self.out, "{line}")?;
        Ok(())
    }
}
