#!/usr/bin/env bash
# Build the Debian package with cargo-deb and check it the way a host would see it: install it
# with dpkg into an empty root (dpkg --root, its own package database), then run `piranha check`
# from the installed binary on the installed lvs.cf, check the man pages, completions, unit and
# conffile are where Debian looks, and remove/purge it again.
#
#   contrib/deb-test.sh                 release build, target/debian/piranha_*.deb
#   DEB_PROFILE=dev contrib/deb-test.sh reuse the debug binary `cargo test --workspace` built (CI)
#
# Needs dpkg and cargo-deb (installed from crates.io when missing). SKIPPED without dpkg,
# a failure when CI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${DEB_PROFILE:-release}

skip() {
  echo "SKIPPED: $*"
  if [[ -n "${CI:-}" ]]; then echo "CI is set: the package test must run" >&2; exit 1; fi
  exit 0
}
command -v dpkg >/dev/null && command -v dpkg-query >/dev/null || skip "dpkg not installed"
if ! command -v cargo-deb >/dev/null; then
  cargo install cargo-deb --locked --quiet
fi

SECONDS=0
if [[ "$profile" == dev ]]; then
  # The binary `cargo test --workspace` built (dev-dependency features unified): after the
  # test step this is a no-op; a plain `cargo build` would recompile the workspace.
  cargo test --quiet --workspace --no-run 2>/dev/null
else
  cargo build --quiet --profile "$profile" --bin piranha
fi
case "$profile" in dev) dir=debug ;; *) dir=$profile ;; esac
bin=target/$dir/piranha

# Generated assets (see [package.metadata.deb] in Cargo.toml).
rm -rf target/deb-assets
mkdir -p target/deb-assets/completions
"$bin" man --dir target/deb-assets/man >/dev/null
"$bin" completions bash >target/deb-assets/completions/piranha
"$bin" completions zsh >target/deb-assets/completions/_piranha
"$bin" completions fish >target/deb-assets/completions/piranha.fish

rm -rf target/debian
# The debug binary is 150 MB of mostly debug info: stripped and fast-compressed it packs in
# seconds instead of minutes (xz of the unstripped binary took 6 min on a loaded 2-core box).
fast=()
[[ "$profile" == dev ]] && fast=(--strip --fast)
cargo deb --quiet --no-build --profile "$profile" "${fast[@]}" --output target/debian/
deb=$(ls target/debian/piranha_*.deb)
echo "built $deb ($(du -h "$deb" | cut -f1))"

root=$(mktemp -d /tmp/pr-ops-deb.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
fail() { echo "deb-test: $*" >&2; exit 1; }
# The empty root has no libc6 package: only the dependency check is forced, nothing else.
dpkg --root="$root" --force-depends --install "$deb" >"$root/dpkg.log" 2>&1 \
  || { cat "$root/dpkg.log" >&2; fail "dpkg --install failed"; }

dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}\n' piranha | grep -qx 'install ok installed' \
  || fail "not installed"
dpkg-query --admindir="$root/var/lib/dpkg" -s piranha | grep -q '^ /etc/sysconfig/ha/lvs.cf ' \
  || fail "lvs.cf is not a conffile"
for f in usr/sbin/piranha lib/systemd/system/piranha.service etc/sysconfig/ha/lvs.cf \
  usr/share/man/man8/piranha.8.gz usr/share/man/man8/piranha-pulse.8.gz \
  usr/share/man/man5/lvs.cf.5.gz usr/share/bash-completion/completions/piranha \
  usr/share/zsh/vendor-completions/_piranha usr/share/fish/vendor_completions.d/piranha.fish \
  usr/share/doc/piranha/copyright; do
  [[ -e "$root/$f" ]] || fail "missing /$f"
done
zcat "$root/usr/share/man/man5/lvs.cf.5.gz" | grep -q '^\.B heartbeat_key_file$' \
  || fail "lvs.cf(5) lacks a key"
out=$("$root/usr/sbin/piranha" check -c "$root/etc/sysconfig/ha/lvs.cf")
echo "installed piranha check: $out"
[[ "$out" == *": ok: "* ]] || fail "piranha check said: $out"
"$root/usr/sbin/piranha" --version

# Remove keeps the edited conffile; purge takes it.
echo "# edited" >>"$root/etc/sysconfig/ha/lvs.cf"
dpkg --root="$root" --remove piranha >/dev/null
[[ ! -e "$root/usr/sbin/piranha" && -e "$root/etc/sysconfig/ha/lvs.cf" ]] || fail "remove"
dpkg --root="$root" --purge piranha >/dev/null
[[ ! -e "$root/etc/sysconfig/ha/lvs.cf" ]] || fail "purge left lvs.cf"
echo "deb-test: ok in ${SECONDS} s"
