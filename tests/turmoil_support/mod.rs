//! The turmoil level of the simulator: the production [`Driver`] (the daemon's tokio loop, not
//! a copy of it) on turmoil hosts, with simulated ports.
//!
//! - heartbeats: [`TurmoilHeartbeat`], turmoil UDP on `heartbeat_port`;
//! - probes: [`TurmoilProber`], turmoil TCP against real-server hosts running [`http_server`];
//! - IPVS: [`SharedIpvs`], an in-memory [`Table`] with the kernel's rules (`Table::apply`);
//! - VIPs: [`SharedVips`], a set of addresses per router plus a journal of every add, remove
//!   and announce with its simulated time;
//! - commands: [`NoCommands`], which only records.
//!
//! The turmoil hosts are named by their addresses (10.0.0.1, 10.0.0.2 routers; 10.0.1.1,
//! 10.0.1.2 real servers), so the lvs.cf is written before the simulation starts and each
//! router is primary or backup by its address, as in production.
//!
//! All state the tests assert on lives in [`Shared`] behind `Arc`s, outside the hosts, so it
//! survives a crash and the test reads it between `sim.step()`s. A host crash takes the host's
//! VIPs and kernel table with it ([`Harness::crash_router`] clears them, as a reboot would); a
//! (re)start of the daemon begins from an empty table and no VIPs.
//!
//! turmoil has no ICMP: a datagram to a host whose daemon is gone is silently dropped, so
//! `HeartbeatRecv::Refused` (ECONNREFUSED on a connected UDP socket) is never reported here,
//! and there is no ARP: "which router do clients reach" is not observed at this level (the
//! fast simulator models both).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod ports;
mod trace;

pub use ports::{http_server, NoCommands, SharedIpvs, SharedVips, TurmoilHeartbeat, TurmoilProber};
pub use trace::capture;

use piranha_daemon::control::{Request, Response};
use piranha_daemon::driver::{Control, Driver, DriverOptions, Identity, Loader, Ports};
use piranha_engine::config;
use piranha_engine::director::DirectorConfig;
use piranha_engine::ipvs::Table;
use piranha_engine::ports::ArpStyle;
use piranha_engine::pulse::Role;
use tokio::sync::{mpsc, oneshot};

/// The routers' addresses (turmoil host names are these IPs, so they are predictable).
pub const ROUTERS: [&str; 2] = ["10.0.0.1", "10.0.0.2"];
/// The real servers' addresses.
pub const REALS: [&str; 2] = ["10.0.1.1", "10.0.1.2"];
/// The virtual server's address.
pub const VIP: &str = "10.0.0.50";
/// lvs.cf `heartbeat_port`.
pub const HEARTBEAT_PORT: u16 = 539;
/// lvs.cf `keepalive`.
pub const KEEPALIVE: Duration = Duration::from_millis(100);
/// lvs.cf `deadtime`.
pub const DEADTIME: Duration = Duration::from_millis(300);
/// lvs.cf `timeout` of the virtual server (a real server is down after this long failing).
pub const REAL_TIMEOUT: Duration = Duration::from_secs(1);
/// turmoil's one-way latency bounds.
pub const MIN_LATENCY: Duration = Duration::from_millis(1);
/// See [`MIN_LATENCY`].
pub const MAX_LATENCY: Duration = Duration::from_millis(5);
/// turmoil's step.
pub const TICK: Duration = Duration::from_millis(1);
/// Hard bound of every scenario's simulated time.
pub const MAX_SIM_TIME: Duration = Duration::from_secs(30);

/// The lvs.cf every router starts with: two routers, one HTTP virtual server, two real
/// servers of weight 1.
pub fn lvs_cf() -> String {
    lvs_cf_with_weight(1)
}

/// The same, with real server s2 at `weight` (for reloads).
pub fn lvs_cf_with_weight(weight: u32) -> String {
    format!(
        "serial_no = 1\nprimary = {r0}\nbackup = {r1}\nservice = lvs\nbackup_active = 1\n\
         heartbeat = 1\nheartbeat_port = {HEARTBEAT_PORT}\nkeepalive = 0.1\ndeadtime = 0.3\n\
         network = direct\nactive_cmd = \"/sbin/on-takeover web\"\n\
         inactive_cmd = \"/sbin/on-giveup\"\n\
         virtual web {{\n active = 1\n address = {VIP} eth0:1\n port = 80\n \
         scheduler = wlc\n timeout = 1\n reentry = 1\n protocol = tcp\n\
         \n server s1 {{\n  address = {s1}\n  active = 1\n  weight = 1\n }}\n\
         \n server s2 {{\n  address = {s2}\n  active = 1\n  weight = {weight}\n }}\n}}\n",
        r0 = ROUTERS[0],
        r1 = ROUTERS[1],
        s1 = REALS[0],
        s2 = REALS[1],
    )
}

fn director_config(text: &str) -> Result<DirectorConfig, String> {
    let parsed = config::parse("lvs.cf", text.as_bytes()).map_err(|e| format!("{e:?}"))?;
    DirectorConfig::from_lvs_cf(&parsed.config, None).map_err(|e| e.to_string())
}

/// What happened to a VIP on a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VipChange {
    /// `ip addr add`.
    Add,
    /// `ip addr del`.
    Remove,
    /// A gratuitous ARP.
    Announce,
}

/// One line of the VIP journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipEvent {
    /// Simulated time since the start of the run.
    pub at: Duration,
    /// Index into [`ROUTERS`].
    pub router: usize,
    /// What happened.
    pub change: VipChange,
    /// The address.
    pub ip: IpAddr,
}

/// One router's observable state.
#[derive(Debug, Default)]
pub struct RouterState {
    /// Addresses up on the host.
    pub vips: BTreeSet<IpAddr>,
    /// The host's kernel IPVS table.
    pub table: Table,
    /// Daemon starts so far (the incarnation of the next one is this + 1).
    pub boots: u64,
    /// The driver's control channel (the signal handlers' and control socket's end).
    pub control: Option<mpsc::Sender<Control>>,
    /// Commands the director ran.
    pub commands: Vec<Vec<String>>,
}

/// Everything the tests read, shared with the hosts.
#[derive(Debug, Default)]
pub struct Shared {
    /// Per router, indexed like [`ROUTERS`].
    pub routers: [Mutex<RouterState>; 2],
    /// Every VIP change of every router, in simulated-time order.
    pub journal: Mutex<Vec<VipEvent>>,
    /// The lvs.cf on "disk": read at every daemon start and reload.
    pub lvs_cf: Mutex<String>,
}

/// One router's daemon: fresh (empty) table and VIPs, then the production driver until it
/// shuts down.
pub async fn router(shared: Arc<Shared>, index: usize) -> turmoil::Result {
    let (control_tx, control_rx) = mpsc::channel(8);
    let incarnation = {
        let mut r = shared.routers[index].lock().unwrap();
        r.vips.clear();
        r.table = Table::default();
        r.boots += 1;
        r.control = Some(control_tx);
        r.boots
    };
    let partner: IpAddr = ROUTERS[1 - index].parse()?;
    let ports = Ports {
        ipvs: Arc::new(SharedIpvs {
            shared: shared.clone(),
            router: index,
        }),
        vips: Arc::new(SharedVips {
            shared: shared.clone(),
            router: index,
        }),
        heartbeat: Arc::new(TurmoilHeartbeat::bind(partner).await?),
        prober: Arc::new(TurmoilProber),
        commands: Arc::new(NoCommands {
            shared: shared.clone(),
            router: index,
        }),
    };
    let identity = Identity {
        role: if index == 0 {
            Role::Primary
        } else {
            Role::Backup
        },
        incarnation,
        seed: index as u64,
    };
    let loader: Loader = {
        let shared = shared.clone();
        Arc::new(move || director_config(&shared.lvs_cf.lock().unwrap()))
    };
    let options = DriverOptions {
        config_file: "lvs.cf".into(),
        arp_style: ArpStyle::GratuitousReply,
    };
    let driver = Driver::new(
        director_config(&shared.lvs_cf.lock().unwrap())?,
        identity,
        ports,
        control_rx,
        loader,
        options,
    )?;
    driver.run().await?;
    Ok(())
}

/// A scenario: the turmoil sim, both routers and both real servers, and the shared state.
pub struct Harness {
    /// The simulation.
    pub sim: turmoil::Sim<'static>,
    /// What the hosts did.
    pub shared: Arc<Shared>,
}

impl Harness {
    /// Two routers and two real servers, started together, with this seed.
    pub fn new(seed: u64) -> Harness {
        Harness::with(seed, |_| {})
    }

    /// As [`Harness::new`], with more settings of turmoil's builder (e.g. `repair_rate`).
    pub fn with(seed: u64, configure: impl FnOnce(&mut turmoil::Builder)) -> Harness {
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(seed)
            .simulation_duration(MAX_SIM_TIME)
            .tick_duration(TICK)
            .min_message_latency(MIN_LATENCY)
            .max_message_latency(MAX_LATENCY);
        configure(&mut builder);
        let mut sim = builder.build();
        let shared = Arc::new(Shared {
            lvs_cf: Mutex::new(lvs_cf()),
            ..Shared::default()
        });
        for real in REALS {
            sim.host(real, http_server);
        }
        for (index, name) in ROUTERS.iter().enumerate() {
            let shared = shared.clone();
            sim.host(*name, move || router(shared.clone(), index));
        }
        Harness { sim, shared }
    }

    /// Simulated time so far.
    pub fn now(&self) -> Duration {
        self.sim.elapsed()
    }

    /// One turmoil step (one tick); a host's error fails the test.
    pub fn step(&mut self) {
        assert!(
            self.now() < MAX_SIM_TIME,
            "scenario ran past {MAX_SIM_TIME:?}"
        );
        self.sim.step().expect("a host failed");
    }

    /// Run for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        while self.now() < until {
            self.step();
        }
    }

    /// Step until `pred` holds (checked after each step) or `limit` of simulated time passed;
    /// returns the time it took.
    pub fn run_until(
        &mut self,
        limit: Duration,
        pred: impl Fn(&Harness) -> bool,
    ) -> Option<Duration> {
        let start = self.now();
        while self.now() - start <= limit {
            if pred(self) {
                return Some(self.now() - start);
            }
            self.step();
        }
        None
    }

    /// Routers holding the VIP, by index.
    pub fn active(&self) -> Vec<usize> {
        let vip: IpAddr = VIP.parse().unwrap();
        (0..ROUTERS.len())
            .filter(|&i| self.shared.routers[i].lock().unwrap().vips.contains(&vip))
            .collect()
    }

    /// A router's kernel table.
    pub fn table(&self, router: usize) -> Table {
        self.shared.routers[router].lock().unwrap().table.clone()
    }

    /// Real-server addresses in a router's table (any service).
    pub fn destinations(&self, router: usize) -> BTreeSet<IpAddr> {
        let table = self.table(router);
        table
            .services
            .values()
            .flat_map(|s| s.dests.keys().map(|d| d.addr))
            .collect()
    }

    /// Crash a router's host: the daemon is gone and, as at a reboot, so are its addresses and
    /// its kernel table.
    pub fn crash_router(&mut self, router: usize) {
        self.sim.crash(ROUTERS[router]);
        let mut r = self.shared.routers[router].lock().unwrap();
        r.vips.clear();
        r.table = Table::default();
        r.control = None;
    }

    /// Boot a crashed router again.
    pub fn bounce_router(&mut self, router: usize) {
        self.sim.bounce(ROUTERS[router]);
    }

    /// Ask a router's driver to shut down (SIGTERM).
    pub fn shutdown(&self, router: usize) {
        self.control(router, Control::Shutdown);
    }

    /// Send a control-socket request to a router's driver and step until it answers (at most
    /// 100 ticks).
    pub fn request(&mut self, router: usize, request: Request) -> Response {
        let (tx, mut rx) = oneshot::channel();
        self.control(router, Control::Request(request, tx));
        for _ in 0..100 {
            self.step();
            if let Ok(response) = rx.try_recv() {
                return response;
            }
        }
        panic!("router {router} did not answer within 100 ticks");
    }

    /// Hand a message to a router's driver, as the signal handlers and control socket do.
    pub fn control(&self, router: usize, message: Control) {
        let r = self.shared.routers[router].lock().unwrap();
        r.control
            .as_ref()
            .expect("router running")
            .try_send(message)
            .expect("control channel has room");
    }

    /// Mend every link turmoil broke (partitions, random failures), between all hosts.
    pub fn repair_all(&self) {
        let hosts: Vec<&str> = ROUTERS.iter().chain(REALS.iter()).copied().collect();
        for (i, a) in hosts.iter().enumerate() {
            for b in &hosts[i + 1..] {
                self.sim.repair(*a, *b);
            }
        }
    }

    /// The VIP journal so far.
    pub fn journal(&self) -> Vec<VipEvent> {
        self.shared.journal.lock().unwrap().clone()
    }
}
