#!/bin/sh
# tests/kernel/guest.sh: runs inside the kernel VM (busybox sh, POSIX only) as root, with the
# IPVS modules loaded and lo up. /bin/piranha is the binary under test, /sbin/ipvsadm the
# reference; /data holds apply.cf, apply.expected, bench.cf, bench.rules.
# Output protocol (read by tests/kernel_ipvs.rs): "CASE <name> PASS|FAIL" per case, then
# "BENCH ..." with the measurement; exit status 0 when every case passed, 1 otherwise.
P=/bin/piranha
FAILS=0
pass() { echo "CASE $1 PASS"; }
fail() { echo "CASE $1 FAIL"; FAILS=$((FAILS + 1)); }
# same NAME EXPECTED ACTUAL: the two files are byte-identical
same() {
  if cmp -s "$2" "$3"; then pass "$1"; else
    fail "$1"; echo "--- expected ($2)"; cat "$2"; echo "--- actual ($3)"; cat "$3"; echo "---"
  fi
}
# milliseconds since boot (10 ms resolution)
now_ms() { read -r up _ < /proc/uptime; echo $(( ${up%.*} * 1000 + 1${up#*.}0 - 1000 )); }

# An interface with an address for the master sync daemon (lvs.cf syncd_iface = sync0).
ip link add sync0 type veth
for i in /sys/class/net/*; do ip link set "${i##*/}" up; done
ip addr add 192.168.99.1/24 dev sync0

# 1. apply lvs.cf: the real ipvsadm shows exactly the expected table
$P ipvs apply -c /data/apply.cf > /tmp/apply1.out 2> /tmp/apply1.err; rc=$?
cat /tmp/apply1.out /tmp/apply1.err
[ $rc = 0 ] && pass apply-exit-0 || fail apply-exit-0
[ "$(tail -n 1 /tmp/apply1.out)" = "11 ops" ] && pass apply-counts-ops || fail apply-counts-ops
ipvsadm -Ln > /tmp/kernel.txt
same apply-table /data/apply.expected /tmp/kernel.txt

# 2. piranha ipvs list -n is byte-identical to ipvsadm -Ln
$P ipvs list -n > /tmp/ours.txt
same list-equals-ipvsadm /tmp/kernel.txt /tmp/ours.txt

# 3. timeouts and the sync daemon were set, and read back identically
ipvsadm -L --timeout > /tmp/kt.txt
echo "Timeout (tcp tcpfin udp): 901 121 301" > /tmp/want-t.txt
same timeouts-set /tmp/want-t.txt /tmp/kt.txt
$P ipvs list --timeout > /tmp/ot.txt
same timeouts-read-back /tmp/kt.txt /tmp/ot.txt
ipvsadm -L --daemon > /tmp/kd.txt
cat /tmp/kd.txt
grep -q '^master sync daemon (mcast=sync0, syncid=5' /tmp/kd.txt && pass daemon-set || fail daemon-set
$P ipvs list --daemon > /tmp/od.txt
same daemon-read-back /tmp/kd.txt /tmp/od.txt

# 4. a second apply is a no-op
$P ipvs apply -c /data/apply.cf > /tmp/apply2.out 2>&1
echo "0 ops" > /tmp/want.txt
same second-apply-noop /tmp/want.txt /tmp/apply2.out

# 5. hand edits are repaired with exactly one op each; foreign services are left alone
ipvsadm -d -t 192.168.26.10:80 -r 10.11.12.2:80
$P ipvs apply -c /data/apply.cf > /tmp/apply3.out 2>&1
printf '%s\n' "-a TCP 192.168.26.10:80 -r 10.11.12.2:80 w=3" "1 ops" > /tmp/want.txt
same repair-deleted-dest /tmp/want.txt /tmp/apply3.out
ipvsadm -e -u 192.168.26.11:53 -r 10.11.12.5:53 -m -w 9
ipvsadm -A -t 10.9.9.9:80 -s rr
$P ipvs apply -c /data/apply.cf > /tmp/apply4.out 2>&1
printf '%s\n' "-e UDP 192.168.26.11:53 -r 10.11.12.5:53 w=5" "1 ops" > /tmp/want.txt
same repair-edited-weight /tmp/want.txt /tmp/apply4.out
ipvsadm -Ln | grep -q '^TCP  10.9.9.9:80 rr' && pass foreign-service-kept || fail foreign-service-kept
ipvsadm -D -t 10.9.9.9:80
ipvsadm -Ln > /tmp/kernel.txt
same repaired-table /data/apply.expected /tmp/kernel.txt

# 5b. the sync daemon switches roles and stops (what pulse does on failover)
$P ipvs sync-daemon backup sync0 5
ipvsadm -L --daemon > /tmp/kd.txt
cat /tmp/kd.txt
[ "$(wc -l < /tmp/kd.txt)" = 1 ] && grep -q '^backup sync daemon (mcast=sync0, syncid=5' /tmp/kd.txt &&
  pass daemon-switch-to-backup || fail daemon-switch-to-backup
$P ipvs list --daemon > /tmp/od.txt
same daemon-backup-read-back /tmp/kd.txt /tmp/od.txt
# a standby that was never active starts as backup and becomes master at takeover
$P ipvs sync-daemon master sync0 5
ipvsadm -L --daemon > /tmp/kd.txt
[ "$(wc -l < /tmp/kd.txt)" = 1 ] && grep -q '^master sync daemon (mcast=sync0, syncid=5' /tmp/kd.txt &&
  pass daemon-backup-to-master || fail daemon-backup-to-master
$P ipvs sync-daemon stop
[ -z "$(ipvsadm -L --daemon)" ] && pass daemon-stop || fail daemon-stop

# 6. a refusal says what was refused and why
$P ipvs apply -c /data/refused.cf > /tmp/refused.out 2> /tmp/refused.err; rc=$?
cat /tmp/refused.out /tmp/refused.err
if [ $rc != 0 ] && grep -q 'add service TCP 192.168.26.20:80: unknown scheduler or persistence engine (ENOENT)' /tmp/refused.err
then pass refusal-explained; else fail refusal-explained; fi

# 7. tables written by ipvsadm are read back exactly (IPv6, fwmark, udp, persistence with
#    netmask, scheduler flags, one-packet, every forwarding method, weights 0, many schedulers)
ipvsadm -C
ipvsadm -A -t 10.0.0.1:80 -s rr
ipvsadm -a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 0
ipvsadm -a -t 10.0.0.1:80 -r 10.1.0.2 -g -w 7
ipvsadm -a -t 10.0.0.1:80 -r 10.1.0.3 -i -w 2 -x 100 -y 10
ipvsadm -A -t 10.0.0.2:443 -s wlc -p 600 -M 255.255.0.0
ipvsadm -a -t 10.0.0.2:443 -r 10.1.0.4 -m
ipvsadm -A -u 10.0.0.3:53 -s sh -b sh-fallback,sh-port -o
ipvsadm -a -u 10.0.0.3:53 -r 10.1.0.5 -g -w 3
ipvsadm -A -t 10.0.0.4:0 -s lblcr -p
ipvsadm -a -t 10.0.0.4:0 -r 10.1.0.6 -g
ipvsadm -A -f 42 -s dh
ipvsadm -a -f 42 -r 10.1.0.7 -g
ipvsadm -A -f 43 -6 -s lblc -p 120
ipvsadm -a -f 43 -6 -r 2001:db8::43 -g -w 4
ipvsadm -A -t [2001:db8::1]:80 -s mh -b mh-port,mh-fallback -p 30 -M 64
ipvsadm -a -t [2001:db8::1]:80 -r [2001:db8::2]:8080 -m -w 9
ipvsadm -a -t [2001:db8::1]:80 -r [2001:db8::3]:80 -i -w 0
ipvsadm -a -t 10.0.0.2:443 -r 10.1.0.9:443 -i --tun-type gue --tun-port 6080 --tun-nocsum
ipvsadm -A -u [2001:db8::5]:5060 -s rr
ipvsadm -a -u [2001:db8::5]:5060 -r [2001:db8::6]:5060 -g
port=1
for s in wrr lc sed nq fo ovf; do
  ipvsadm -A -t 10.0.0.9:$port -s $s
  ipvsadm -a -t 10.0.0.9:$port -r 10.1.1.$port:$port -m -w $port
  port=$((port + 1))
done
ipvsadm -Ln > /tmp/kernel.txt
cat /tmp/kernel.txt
$P ipvs list -n > /tmp/ours.txt
same read-ipvsadm-table /tmp/kernel.txt /tmp/ours.txt
# connection counters: a local client's SYN to a VIP is scheduled by IPVS (LOCAL_OUT) and NATed
# out of sync0, where nobody answers: the kernel then counts a connection on one destination
ip route add 10.0.0.0/8 dev sync0
nc -w 1 10.0.0.2 443 < /dev/null > /dev/null 2>&1
ipvsadm -Ln > /tmp/kernel.txt
$P ipvs list -n > /tmp/ours.txt
grep -A2 '10.0.0.2:443' /tmp/kernel.txt
if awk '$1 == "->" && $5 + $6 > 0 { seen = 1 } END { exit !seen }' /tmp/kernel.txt; then
  same counters-read /tmp/kernel.txt /tmp/ours.txt
else fail counters-read; cat /tmp/kernel.txt; fi
# Traffic counters reach the netlink dump only when the kernel's rate estimator has summed the
# per-CPU counters (every 2 s): wait until ipvsadm sees the connection (at most 8 s).
n=0
while [ $n -lt 8 ] && ipvsadm -Ln --stats | grep '^TCP  10.0.0.2:443' | awk '{ exit $3 != 0 }'; do
  sleep 1; n=$((n + 1))
done
ipvsadm -Ln --stats | grep '^TCP  10.0.0.2:443'
$P ipvs list --json > /tmp/ours.json && grep -q '"conn_tab_size": 4096' /tmp/ours.json &&
  pass list-json || fail list-json
# the traffic counters (STATS64) of that connection
tr -d ' \n' < /tmp/ours.json | grep -q '"stats":{"conns":1,' && pass stats-read ||
  { fail stats-read; cat /tmp/ours.json; }
# zeroing the counters
$P ipvs zero
$P ipvs list --json | tr -d ' \n' > /tmp/zeroed.json
ipvsadm -Ln --stats | grep '10.0.0.2:443'
if ! grep -q '"conns":1,' /tmp/zeroed.json && grep -q '"stats":{"conns":0,' /tmp/zeroed.json &&
  ipvsadm -Ln --stats | grep '^TCP  10.0.0.2:443' | awk '{ exit $3 != 0 }'
then pass zero; else fail zero; cat /tmp/zeroed.json; fi
# the GUE tunnel parameters (not shown by -Ln) come back from the dump
tr -d ' \n' < /tmp/ours.json | grep -q '"kind":"Gue","port":6080}' &&
  pass tunnel-params-read || { fail tunnel-params-read; cat /tmp/ours.json; }

# 8. flush
$P ipvs flush
[ "$(ipvsadm -Ln | wc -l)" = 3 ] && pass flush || fail flush

# 9. the measurement: the same table by ipvsadm -R and by piranha ipvs apply
read -r NS ND < /data/bench.size
t0=$(now_ms); ipvsadm -R < /data/bench.rules; t1=$(now_ms)
ipvsadm -Ln > /tmp/bench-ipvsadm.txt
ipvsadm -C
t2=$(now_ms); $P ipvs apply -c /data/bench.cf > /tmp/bench.out 2>&1; t3=$(now_ms)
ipvsadm -Ln > /tmp/bench-piranha.txt
t4=$(now_ms); $P ipvs apply -c /data/bench.cf > /tmp/bench2.out 2>&1; t5=$(now_ms)
t6=$(now_ms); $P ipvs list -n > /tmp/bench-list.txt; t7=$(now_ms)
t8=$(now_ms); ipvsadm -Ln > /dev/null; t9=$(now_ms)
t10=$(now_ms); $P check -c /data/bench.cf > /dev/null; t11=$(now_ms)
[ "$(tail -n 1 /tmp/bench.out)" = "$((NS + NS * ND)) ops" ] && pass bench-apply-ops || fail bench-apply-ops
same bench-same-table /tmp/bench-ipvsadm.txt /tmp/bench-piranha.txt
same bench-list-equals-ipvsadm /tmp/bench-ipvsadm.txt /tmp/bench-list.txt
[ "$(cat /tmp/bench2.out)" = "0 ops" ] && pass bench-second-apply-noop || fail bench-second-apply-noop
echo "BENCH services=$NS dests=$((NS * ND)) ipvsadm_restore_ms=$((t1 - t0)) piranha_apply_ms=$((t3 - t2)) piranha_noop_apply_ms=$((t5 - t4)) piranha_list_ms=$((t7 - t6)) ipvsadm_list_ms=$((t9 - t8)) piranha_parse_ms=$((t11 - t10))"
ipvsadm -C

echo "FAILED CASES: $FAILS"
[ $FAILS = 0 ]
