#!/bin/sh
# tests/kernel/e2e-guest.sh: the end-to-end failover harness, run inside the kernel VM
# (tests/kernel/run.sh -e -s this file; driven by tests/e2e_vm.rs). busybox sh, as root.
#
# Network namespaces: two directors (e2e-d1 primary, e2e-d2 backup), a client (e2e-cl), two real
# servers (e2e-rs1, e2e-rs2), and e2e-sw holding the bridges: "pub" (directors' eth0, the client;
# in DR also the real servers) and, for NAT, "priv" (directors' eth1, the real servers, whose
# default route is the floating NAT router address). The directors run `piranha pulse` on their
# namespace's real IPVS, then, on a fresh topology, keepalived (Debian's 2.2.7) with the
# equivalent configuration: same timing (keepalive/advert 0.2 s, deadtime 0.6 s, check interval
# and timeout 1 s), sync daemon on, checkers on both nodes, no preemption.
#
# Load (`piranha traffic client` in e2e-cl): back-to-back short HTTP requests to the VIP, plus
# long-lived connections exchanging 8 bytes every 50 ms. Faults on the active director:
# sigterm, sigkill (daemon dies, host up), hostgone (links down, daemon dead), a real server
# down and back (rsdown, rsup), reload (SIGHUP after a weight change).
# Output (read by tests/e2e_vm.rs): "E2E <impl> <topo> <fault> outage_ms=.. failed=.. ok=..
# last_fail_ms=.. long=S/N" per fault, "E2E-ERROR <what>" when the harness itself fails.
IP=/usr/sbin/ip
P=/bin/piranha
KA=/usr/sbin/keepalived
T=/tmp/e2e
VIP=10.0.0.50
SETTLE=${E2E_SETTLE:-3}   # seconds after a restart before the next fault
WINDOW=${E2E_WINDOW:-3}   # seconds a fault's window stays open
mkdir -p /run && mount -t tmpfs run /run
mkdir -p $T
ERRORS=0
err() { echo "E2E-ERROR $*"; ERRORS=$((ERRORS + 1)); }
# (not for daemons: a backgrounded function is a subshell, and $! would be its PID)
in_ns() { n=$1; shift; $IP netns exec "e2e-$n" "$@"; }
# alive PID: running and not a zombie waiting to be reaped
alive() { [ -r /proc/$1/stat ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$1/stat; }

# link NODE DEV BRIDGE ADDR/LEN: a veth from the switch's BRIDGE to NODE's DEV
link() {
  $IP -n e2e-sw link add "$1-$2" type veth peer name "$2" netns "e2e-$1"
  $IP -n e2e-sw link set "$1-$2" master "$3" up
  $IP -n e2e-$1 link set "$2" up
  $IP -n e2e-$1 addr add "$4" dev "$2"
}

# topology nat|dr
topology() {
  for n in sw d1 d2 cl rs1 rs2; do $IP netns add e2e-$n; $IP -n e2e-$n link set lo up; done
  for b in pub priv; do
    $IP -n e2e-sw link add $b type bridge mcast_snooping 0
    $IP -n e2e-sw link set $b up
  done
  link d1 eth0 pub 10.0.0.1/24
  link d2 eth0 pub 10.0.0.2/24
  link cl eth0 pub 10.0.0.100/24
  if [ "$1" = nat ]; then
    link d1 eth1 priv 10.1.0.1/24
    link d2 eth1 priv 10.1.0.2/24
    link rs1 eth0 priv 10.1.0.11/24
    link rs2 eth0 priv 10.1.0.12/24
    for n in rs1 rs2; do $IP -n e2e-$n route add default via 10.1.0.254; done
    for n in d1 d2; do in_ns $n sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'; done
  else
    link rs1 eth0 pub 10.0.0.11/24
    link rs2 eth0 pub 10.0.0.12/24
    for n in rs1 rs2; do
      in_ns $n sh -c 'for i in all eth0; do
        echo 1 > /proc/sys/net/ipv4/conf/$i/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/$i/arp_announce
      done'
      $IP -n e2e-$n addr add $VIP/32 dev lo
    done
  fi
  for n in rs1 rs2; do start_rs $n; done
}

start_rs() {
  $IP netns exec "e2e-$1" $P traffic serve --listen 0.0.0.0:80 --name "$1" > $T/$1.log 2>&1 &
  eval "RS_$1=$!"
}

teardown() {
  for p in $(cat $T/pids 2>/dev/null) $RS_rs1 $RS_rs2 $CLIENT; do kill -9 "$p" 2>/dev/null; done
  sleep 0.2
  for n in sw d1 d2 cl rs1 rs2; do $IP netns del e2e-$n 2>/dev/null; done
  rm -f $T/pids
}

# ---- the directors: piranha
# piranha_cf SERIAL RS2_WEIGHT TOPO
piranha_cf() {
  if [ "$3" = nat ]; then
    net="network = nat
nat_router = 10.1.0.254 eth1:1
nat_nmask = 255.255.255.0
syncd_iface = eth1"
    r1=10.1.0.11 r2=10.1.0.12
  else
    net="network = direct
syncd_iface = eth0"
    r1=10.0.0.11 r2=10.0.0.12
  fi
  cat <<EOF
serial_no = $1
primary = 10.0.0.1
backup = 10.0.0.2
service = lvs
backup_active = 1
heartbeat_port = 539
keepalive = 0.2
deadtime = 0.6
$net
syncdaemon = 1
syncd_id = 5
virtual web {
    active = 1
    address = $VIP eth0:1
    vip_nmask = 255.255.255.0
    port = 80
    protocol = tcp
    scheduler = wlc
    timeout = 1
    reentry = 1
    server rs1 {
        address = $r1
        active = 1
        weight = 1
    }
    server rs2 {
        address = $r2
        active = 1
        weight = $2
    }
}
EOF
}

# ---- the directors: keepalived
# keepalived_cf NODE RS2_WEIGHT TOPO
keepalived_cf() {
  if [ "$1" = d1 ]; then prio=150; else prio=100; fi
  if [ "$3" = nat ]; then
    kind=NAT sync=eth1 r1=10.1.0.11 r2=10.1.0.12
    router="10.1.0.254/24 dev eth1 label eth1:1"
  else
    kind=DR sync=eth0 r1=10.0.0.11 r2=10.0.0.12 router=""
  fi
  cat <<EOF
global_defs {
    router_id $1
    vrrp_version 3
    lvs_sync_daemon $sync VI_1 id 5
}
vrrp_instance VI_1 {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 50
    priority $prio
    advert_int 0.2
    virtual_ipaddress {
        $VIP/24 dev eth0 label eth0:1
        $router
    }
}
virtual_server $VIP 80 {
    delay_loop 1
    lb_algo wlc
    lb_kind $kind
    protocol TCP
    real_server $r1 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server $r2 80 {
        weight $2
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
EOF
}

# write_cf IMPL TOPO SERIAL RS2_WEIGHT: the configuration files of both directors
write_cf() {
  if [ "$1" = piranha ]; then
    piranha_cf "$3" "$4" "$2" > $T/lvs.cf
  else
    for n in d1 d2; do keepalived_cf $n "$4" "$2" > $T/keepalived-$n.conf; done
  fi
}

# start IMPL NODE: the director daemon in NODE's namespace; its PID in PID_<node>
start() {
  if [ "$1" = piranha ]; then
    role=primary; [ "$2" = d2 ] && role=backup
    RUST_LOG=info $IP netns exec "e2e-$2" $P pulse -c $T/lvs.cf --role $role \
      --control-socket $T/$2.sock >> $T/$1-$2.log 2>&1 &
  else
    $IP netns exec "e2e-$2" $KA -n -l -D -f $T/keepalived-$2.conf -p $T/ka-$2.pid -r $T/ka-$2-vrrp.pid \
      -c $T/ka-$2-check.pid >> $T/$1-$2.log 2>&1 &
  fi
  eval "PID_$2=$!"
  echo $! >> $T/pids
}

# stop NODE SIGNAL: signal the director daemon (SIGKILL: keepalived's children too) and wait
stop() {
  eval "p=\$PID_$1"
  if [ "$2" = KILL ] && [ "$IMPL" = keepalived ]; then
    for f in $T/ka-$1-vrrp.pid $T/ka-$1-check.pid; do [ -f $f ] && kill -9 "$(cat $f)" 2>/dev/null; done
  fi
  kill -"$2" "$p" 2>/dev/null
  i=0
  while alive "$p" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  kill -9 "$p" 2>/dev/null
  rm -f $T/ka-$1.pid $T/ka-$1-vrrp.pid $T/ka-$1-check.pid
}

holds_vip() { $IP -n "e2e-$1" -o -4 addr show dev eth0 | grep -q "inet $VIP/"; }
active() {
  if holds_vip d1; then echo d1; elif holds_vip d2; then echo d2; fi
}
other() { if [ "$1" = d1 ]; then echo d2; else echo d1; fi; }

# wait_vip: until one director holds the VIP (bounded, 20 s)
wait_vip() {
  i=0
  while [ -z "$(active)" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
  [ -n "$(active)" ] || err "$IMPL $TOPO: no director took the VIP ($1)"
}

fault() { echo stats >&3; echo "fault $1" >&3; }
end() { sleep "$WINDOW"; echo end >&3; }

# run IMPL TOPO: one topology, one implementation, every fault
run() {
  IMPL=$1 TOPO=$2
  echo "E2E-RUN $IMPL $TOPO at $(cut -d' ' -f1 /proc/uptime) s"
  topology "$TOPO"
  write_cf "$IMPL" "$TOPO" 1 1
  start "$IMPL" d1
  wait_vip start
  [ -n "$(active)" ] || { tail -n 20 $T/$IMPL-d1.log; teardown; return; }
  start "$IMPL" d2
  sleep "$SETTLE"
  rm -f $T/ctl; mkfifo $T/ctl
  $IP netns exec e2e-cl $P traffic client --target $VIP:80 --workers 3 --timeout-ms 500 --long 6 --trace < $T/ctl > $T/client-$IMPL-$TOPO.out 2>&1 &
  CLIENT=$!
  exec 3> $T/ctl
  sleep 1

  for f in sigterm sigkill hostgone; do
    a=$(active)
    [ -n "$a" ] || { err "$IMPL $TOPO: nobody active before $f"; break; }
    case $f in
      sigterm) fault $f; stop "$a" TERM;;
      sigkill) fault $f; stop "$a" KILL;;
      hostgone)
        # The fault is the public link going down (heartbeats and clients use it): marked
        # once it is down, since starting ip under emulation takes a noticeable time.
        $IP -n e2e-$a link set eth0 down
        fault $f
        $IP -n e2e-$a link set eth1 down 2>/dev/null
        stop "$a" KILL;;
    esac
    end
    if [ $f = hostgone ]; then
      # the host comes back as after a reboot: no VIPs, no IPVS table
      for d in eth0 eth1; do $IP -n e2e-$a addr del $VIP/24 dev $d 2>/dev/null; done
      $IP -n e2e-$a addr del 10.1.0.254/24 dev eth1 2>/dev/null
      in_ns "$a" $P ipvs flush > /dev/null 2>&1
      for d in eth0 eth1; do $IP -n e2e-$a link set $d up 2>/dev/null; done
    fi
    start "$IMPL" "$a"
    sleep "$SETTLE"
  done

  fault rsdown
  kill -9 "$RS_rs1"
  end
  fault rsup
  start_rs rs1
  end
  sleep 1

  write_cf "$IMPL" "$TOPO" 2 2
  fault reload
  for n in d1 d2; do eval "kill -HUP \$PID_$n"; done
  end

  echo quit >&3
  exec 3>&-
  i=0
  while alive $CLIENT && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  sed -n "s/^FAULT /E2E $IMPL $TOPO /p" $T/client-$IMPL-$TOPO.out
  sed -n "s/^TRACE /E2E-TRACE $IMPL $TOPO /p; s/^STATS /E2E-STATS $IMPL $TOPO /p" $T/client-$IMPL-$TOPO.out
  grep -v "^FAULT \\|^TRACE \\|^STATS " $T/client-$IMPL-$TOPO.out | head -5
  if [ -n "$E2E_VERBOSE" ]; then
    for n in d1 d2; do echo "--- $IMPL $n"; tail -n 40 $T/$IMPL-$n.log; done
  fi
  teardown
  CLIENT=""
}

for impl in ${E2E_IMPLS:-piranha keepalived}; do
  for topo in ${E2E_TOPOS:-nat dr}; do run $impl $topo; done
done
echo "E2E-DONE at $(cut -d' ' -f1 /proc/uptime) s"
[ $ERRORS = 0 ]
