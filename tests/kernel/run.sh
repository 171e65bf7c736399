#!/bin/bash
# tests/kernel/run.sh: run piranha's kernel IPVS cases (tests/kernel/guest.sh) against a real
# kernel: Debian's stock kernel (IPVS as modules) booted under qemu software emulation, with the
# real ipvsadm inside to cross-check what piranha wrote and to write what piranha must read.
# The machine running this needs no IPVS of its own.
#
# usage: tests/kernel/run.sh -b PIRANHA_BINARY [-s GUEST_SCRIPT] [-e]
#        -e: also what the end-to-end harness needs (tests/kernel/e2e-guest.sh): the bridge
#            modules, iproute2's ip (for ip netns) at /usr/sbin/ip, keepalived at
#            /usr/sbin/keepalived with its libraries
# env:   PIRANHA_VM_CACHE  cache folder (debs, unpacked kernel); default ${TMPDIR:-/tmp}/piranha-kernel-vm
#        VM_TIMEOUT        seconds for the VM run (default 240); VM_MEM MiB (default 768)
#        VM_ACCEL          qemu accelerator (default tcg; kvm where /dev/kvm works)
#        BENCH_SERVICES, BENCH_DESTS  size of the apply-vs-ipvsadm -R measurement (1000, 10)
# exit:  the guest script's status (0 = every case passed); 3 = the VM did not finish;
#        77 = a capability is missing (no qemu and cannot install it, no apt access): the reason
#        is printed on stderr as "SKIPPED: <why>".
# Needs: bash, qemu-system-x86 (installed with apt-get when missing and running as root),
#        apt-get download access (kernel, busybox-static, ipvsadm, libpopt0, libnl-3-200,
#        libnl-genl-3-200; cached), cpio-free: the initramfs is packed with the guest busybox.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN="" GUEST="$HERE/guest.sh" E2E=""
while getopts "b:s:e" o; do
  case $o in b) BIN=$(realpath "$OPTARG");; s) GUEST=$(realpath "$OPTARG");;
    e) E2E=1;;
    *) sed -n '6,17p' "$0"; exit 2;; esac
done
[ -n "$BIN" ] || { sed -n '6,17p' "$0"; exit 2; }
skip() { echo "SKIPPED: $*" >&2; exit 77; }

if ! command -v qemu-system-x86_64 >/dev/null; then
  command -v apt-get >/dev/null || skip "qemu-system-x86_64 is not installed and there is no apt-get"
  [ "$(id -u)" = 0 ] || skip "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 needs root)"
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends qemu-system-x86 >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends qemu-system-x86 >/dev/null 2>&1; } ||
    skip "qemu-system-x86_64 is missing and apt-get install qemu-system-x86 failed"
fi
command -v apt-get >/dev/null || skip "no apt-get to download Debian's kernel and ipvsadm"

W=${PIRANHA_VM_CACHE:-${TMPDIR:-/tmp}/piranha-kernel-vm}
mkdir -p "$W/debs"
W=$(realpath "$W")
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=$(kernel_pkg)
[ -n "$KPKG" ] || { apt-get update >/dev/null 2>&1 || true; KPKG=$(kernel_pkg); }
[ -n "$KPKG" ] || skip "apt knows no linux-image-amd64 (not a Debian-like system, or no package lists)"
KVER=${KPKG#linux-image-}
ROOT=$W/root-$KVER
PKGS=("$KPKG" busybox-static ipvsadm libpopt0 libnl-3-200 libnl-genl-3-200)
for p in "${PKGS[@]}"; do
  ls "$W/debs/${p}"_*.deb >/dev/null 2>&1 ||
    (cd "$W/debs" && apt-get download "$p" >/dev/null 2>&1) || skip "apt-get download $p failed (no network?)"
done
if [ ! -f "$ROOT/boot/vmlinuz-$KVER" ]; then
  for p in "${PKGS[@]}"; do dpkg -x "$W/debs/${p}"_*.deb "$ROOT"; done
fi
# Boot the uncompressed ELF kernel: qemu enters it directly (PVH), much faster than the bzImage
# decompressing itself under emulation.
VMLINUX=$W/vmlinux-$KVER
if [ ! -s "$VMLINUX" ]; then
  at=$(LC_ALL=C grep -aobUP '\xfd7zXZ\x00' "$ROOT/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1)
  # (through a file: in a pipe, xz stopping at the stream's end would kill tail with SIGPIPE)
  tail -c +$((at + 1)) "$ROOT/boot/vmlinuz-$KVER" > "$VMLINUX.xz"
  xz -dc --single-stream "$VMLINUX.xz" > "$VMLINUX.tmp" 2>/dev/null ||
    cp "$ROOT/boot/vmlinuz-$KVER" "$VMLINUX.tmp"
  rm -f "$VMLINUX.xz"
  mv "$VMLINUX.tmp" "$VMLINUX"
fi

# The initramfs: busybox, modules, ipvsadm, piranha (stripped), the cases' data, /init.
IR=$(mktemp -d "$W/initramfs.XXXXXX")   # per run: concurrent runs share only the cache
trap 'rm -rf "$IR" "$IR.cpio.gz" "$IR.log"' EXIT
mkdir -p "$IR"/{bin,sbin,proc,sys,dev,tmp,data,lib/modules,lib64,lib/x86_64-linux-gnu}
cp "$ROOT/bin/busybox" "$IR/bin/"
for a in $("$IR/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$IR/bin/$a"; done
# depmod's order, with crc32c first (libcrc32c's soft dependency)
for m in crypto/crc32c_generic lib/libcrc32c net/ipv4/netfilter/nf_defrag_ipv4 \
  net/ipv6/netfilter/nf_defrag_ipv6 net/netfilter/nf_conntrack net/netfilter/ipvs/ip_vs \
  net/netfilter/ipvs/ip_vs_rr net/netfilter/ipvs/ip_vs_wrr net/netfilter/ipvs/ip_vs_lc \
  net/netfilter/ipvs/ip_vs_wlc net/netfilter/ipvs/ip_vs_sh net/netfilter/ipvs/ip_vs_dh \
  net/netfilter/ipvs/ip_vs_mh net/netfilter/ipvs/ip_vs_sed net/netfilter/ipvs/ip_vs_nq \
  net/netfilter/ipvs/ip_vs_lblc net/netfilter/ipvs/ip_vs_lblcr net/netfilter/ipvs/ip_vs_fo \
  net/netfilter/ipvs/ip_vs_twos \
  net/netfilter/ipvs/ip_vs_ovf drivers/net/veth; do
  f="$ROOT/lib/modules/$KVER/kernel/$m.ko"
  [ -f "$f" ] || continue
  cp "$f" "$IR/lib/modules/"
  echo "${m##*/}.ko" >> "$IR/modlist"
done
copy_elf() {  # a binary and the libraries ldd resolves (unpacked packages first, then the host's)
  install -D -m755 "$1" "$IR/$2"
  LD_LIBRARY_PATH="$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu" ldd "$1" 2>/dev/null |
    awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | xargs -r cp -L -t "$IR/lib/x86_64-linux-gnu/" || true
}
copy_elf "$ROOT/sbin/ipvsadm" sbin/ipvsadm
ln -sf ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$IR/lib64/"
copy_elf "$BIN" bin/piranha
strip --strip-debug "$IR/bin/piranha" 2>/dev/null || true
if [ -n "$E2E" ]; then
  # keepalived and the libraries a minimal host lacks, unpacked apart from the kernel's root
  # (which may be cached without them); iproute2's ip from this host.
  EPKGS=(keepalived libsnmp40 libnftnl11 libmnl0 libnl-route-3-200 libglib2.0-0 libpci3 libwrap0
    libsensors5)
  for p in "${EPKGS[@]}"; do
    ls "$W/debs/${p}"_*.deb >/dev/null 2>&1 ||
      (cd "$W/debs" && apt-get download "$p" >/dev/null 2>&1) || skip "apt-get download $p failed (no network?)"
  done
  ER=$W/e2e-root
  [ -x "$ER/usr/sbin/keepalived" ] || for p in "${EPKGS[@]}"; do dpkg -x "$W/debs/${p}"_*.deb "$ER"; done
  for m in net/llc/llc net/802/stp net/bridge/bridge; do
    cp "$ROOT/lib/modules/$KVER/kernel/$m.ko" "$IR/lib/modules/"
    echo "${m##*/}.ko" >> "$IR/modlist"
  done
  IPBIN=$(command -v ip) || skip "no iproute2 ip on this host to copy into the VM"
  install -D -m755 "$ER/usr/sbin/keepalived" "$IR/usr/sbin/keepalived"
  install -D -m755 "$IPBIN" "$IR/usr/sbin/ip"
  for b in "$ER/usr/sbin/keepalived" "$IPBIN"; do
    LD_LIBRARY_PATH="$ER/lib/x86_64-linux-gnu:$ER/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu" ldd "$b" 2>/dev/null |
      awk '/=> \//{print $3}' | xargs -r cp -L -t "$IR/lib/x86_64-linux-gnu/"
  done
  if LD_LIBRARY_PATH="$IR/lib/x86_64-linux-gnu" ldd "$IR/usr/sbin/keepalived" | grep -q 'not found'; then
    skip "keepalived's libraries are incomplete: $(ldd "$IR/usr/sbin/keepalived" | grep 'not found' | tr -s ' \t\n' ' ')"
  fi
fi

cp "$HERE"/*.cf "$HERE"/*.expected "$IR/data/" 2>/dev/null || true
# The measurement: BENCH_SERVICES services x BENCH_DESTS destinations, as lvs.cf and as an
# ipvsadm -R rules file describing the same table.
NS=${BENCH_SERVICES:-1000} ND=${BENCH_DESTS:-10}
awk -v ns="$NS" -v nd="$ND" -v cf="$IR/data/bench.cf" -v rules="$IR/data/bench.rules" 'BEGIN {
  print "serial_no = 1\nprimary = 192.168.100.1\nservice = lvs\nbackup_active = 0\nnetwork = nat" > cf
  for (i = 0; i < ns; i++) {
    vip = sprintf("10.100.%d.%d", int(i / 250), i % 250 + 1)
    printf "virtual v%d {\n active = 1\n address = %s eth0:1\n port = 80\n protocol = tcp\n scheduler = wlc\n", i, vip > cf
    printf "-A -t %s:80 -s wlc\n", vip > rules
    for (j = 0; j < nd; j++) {
      rip = sprintf("10.%d.%d.%d", 200 + j, int(i / 250), i % 250 + 1)
      printf " server s%d {\n  address = %s\n  active = 1\n  weight = 1\n }\n", j, rip > cf
      printf "-a -t %s:80 -r %s:80 -m -w 1\n", vip, rip > rules
    }
    print "}" > cf
  }
}'
echo "$NS $ND" > "$IR/data/bench.size"
cp "$GUEST" "$IR/test.sh"
cat > "$IR/init" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
for m in $(cat /modlist); do insmod /lib/modules/$m || echo "VM: insmod $m failed"; done
ip link set lo up   # without lo up, destinations are refused ("address not unicast")
sh /test.sh; rc=$?
echo "VM-EXIT $rc"
poweroff -f
INIT
chmod +x "$IR/init"
(cd "$IR" && find . | "$ROOT/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) > "$IR.cpio.gz"
LOG=$IR.log
# Software emulation by default: it works everywhere, while a present /dev/kvm may still be
# unusable (nested virtualisation makes qemu abort). VM_ACCEL=kvm opts in where KVM works.
timeout "${VM_TIMEOUT:-240}" qemu-system-x86_64 -accel "${VM_ACCEL:-tcg}" -cpu max -smp 2 -m "${VM_MEM:-768}" \
  -nographic -no-reboot -nic none -kernel "$VMLINUX" -initrd "$IR.cpio.gz" \
  -append "console=ttyS0 quiet panic=-1" </dev/null | tr -d '\r' | tee "$LOG" || true
cp "$LOG" "$W/console.log"   # the last run's console, for a look afterwards
rc=$(sed -n 's/^VM-EXIT \([0-9]*\).*/\1/p' "$LOG" | tail -1)
[ -n "$rc" ] || { echo "kernel VM: the guest script did not finish (see $W/console.log)" >&2; exit 3; }
exit "$rc"
