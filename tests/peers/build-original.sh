#!/usr/bin/env bash
# Builds the original Piranha 0.8.6 (pulse, lvsd, nanny, send_arp) from the read-only peer
# sources for the interoperability and differential tests, and prints the directory that holds
# the binaries. Shared by every test that runs the original: call it, read its last stdout line.
#
#   tests/peers/build-original.sh [OUTDIR]
#
# Sources: $PIRANHA_PEERS (a piranha-0.8.6 directory) or /work/shared/peers/piranha-0.8.6 or
# ../shared/peers/piranha-0.8.6 next to the repository. OUTDIR defaults to
# $CARGO_TARGET_DIR or target/, under peers/piranha-0.8.6 (never into the sources, which are
# read-only in CI). Builds once: a stamp of the sources' checksums skips rebuilding, and a lock
# lets parallel tests call it at the same time.
#
# Exit status: 0 built (or up to date); 2 a prerequisite is missing (gcc, libpopt-dev or the
# sources), with `MISSING: why` on stderr so a test can print `SKIPPED: why`; 1 the build failed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)

src=""
for cand in "${PIRANHA_PEERS:-}" /work/shared/peers/piranha-0.8.6 "$repo/../shared/peers/piranha-0.8.6" \
  "$repo/../../shared/peers/piranha-0.8.6"; do
  if [[ -n "$cand" && -f "$cand/build.sh" && -f "$cand/src/lvsconfig.c" ]]; then
    src=$(cd "$cand" && pwd)
    break
  fi
done
[[ -n "$src" ]] || { echo "MISSING: Piranha 0.8.6 sources (set PIRANHA_PEERS)" >&2; exit 2; }
command -v gcc >/dev/null || { echo "MISSING: gcc (apt-get install gcc)" >&2; exit 2; }
if ! printf '#include <popt.h>\nint main(void){return 0;}\n' | gcc -x c -o /dev/null - -lpopt 2>/dev/null; then
  echo "MISSING: libpopt-dev (apt-get install libpopt-dev)" >&2
  exit 2
fi

out=${1:-${CARGO_TARGET_DIR:-$repo/target}/peers/piranha-0.8.6}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp="$out/.sources.sha256"
want=$(cd "$src" && sha256sum build.sh src/* | sha256sum | cut -d' ' -f1)

exec 9>"$out/.lock"
flock -w 120 9 || { echo "build-original: timed out waiting for $out/.lock" >&2; exit 1; }
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] &&
  [[ -x "$out/pulse" && -x "$out/lvsd" && -x "$out/nanny" && -x "$out/send_arp" ]]; then
  echo "$out"
  exit 0
fi
rm -f "$stamp"
# build.sh writes only into its OUT argument.
if ! sh "$src/build.sh" "$out" >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  exit 1
fi
echo "$want" >"$stamp"
echo "$out"
