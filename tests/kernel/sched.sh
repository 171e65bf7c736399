#!/bin/sh
# tests/kernel/sched.sh: the guest side of tests/kernel_sched.rs (run by tests/kernel/run.sh
# -s tests/kernel/sched.sh inside the kernel VM, busybox sh, as root, IPVS modules loaded).
# Sets up the capture interface and routes, then runs the driver `piranha bench kernel-sched`,
# whose transcript ("@..." lines) the host replays through engine::sched.
# Output: the transcript, then "SCHED-DRIVER <status>"; exit status 0 when the driver ran.
P=/bin/piranha
# The real servers (10.100.0.0/16), the addresses clients connect to (10.200.0.0/16) and the
# sentinel (10.250.0.1) are routed out of sched0. ARP off: frames leave at once (no neighbour
# resolution queue), in the order they were sent.
# (busybox ip names the peer itself)
ip link add sched0 type veth
ip link set sched0 arp off
for i in /sys/class/net/*; do ip link set "${i##*/}" up; done
ip addr add 10.254.0.1/24 dev sched0
for net in 10.100.0.0/16 10.200.0.0/16 10.250.0.0/16 172.16.0.0/12; do ip route add $net dev sched0; done
# Kernel messages ("IPVS: ...: no destination available") must not break transcript lines.
echo 1 > /proc/sys/kernel/printk
# Every raw SYN is a conntrack entry too: room for all of them.
echo 1048576 > /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null
echo "SCHED-KERNEL $(uname -r)"
ls /lib/modules | grep -q ip_vs_twos || echo "SCHED-NOTE no ip_vs_twos module in this kernel"
$P bench kernel-sched --scratch --iface sched0 ${SCHED_ARGS:-} 2> /tmp/driver.err; rc=$?
cat /tmp/driver.err
echo "SCHED-DRIVER $rc"
[ $rc = 0 ]
