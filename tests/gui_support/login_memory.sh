#!/usr/bin/env bash
# Resident memory of `piranha gui` under 80 parallel wrong logins (docs/GUI.md, "Logins under
# attack"). Usage: tests/gui_support/login_memory.sh BINARY PORT [many]
#   many: each login from its own loopback address (127.0.0.2-81) instead of 127.0.0.1.
# Prints the RSS before, the peak (VmHWM), the answers' status codes, and the status of the
# right password tried right after. Starts and stops its own piranha gui (by PID), on loopback.
set -euo pipefail
BIN=$1 PORT=$2 MANY=${3:-}
D=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$D"' EXIT
cp "$(dirname "$0")/../corpus/gui_two_routers.cf" "$D/lvs.cf"
echo 'the right password' | "$BIN" passwd --passwd-file "$D/pw" >/dev/null 2>&1
"$BIN" gui -c "$D/lvs.cf" --passwd-file "$D/pw" --listen "127.0.0.1:$PORT" \
  --control-socket "$D/none.sock" 2>"$D/err" &
PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/login" && break; sleep 0.2; done
echo "rss_before_kB $(awk '/VmRSS/{print $2}' /proc/$PID/status)"
pids=()
for i in $(seq 80); do
  from=()
  [[ -n $MANY ]] && from=(--interface "127.0.0.$((i + 1))")
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 300 "${from[@]}" \
    -d "username=piranha&password=wrong$i" "http://127.0.0.1:$PORT/login" >>"$D/codes" &
  pids+=($!)
done
wait "${pids[@]}" || true
echo "peak_rss_kB $(awk '/VmHWM/{print $2}' /proc/$PID/status)"
sort "$D/codes" | uniq -c
echo "right password: $(curl -s -o /dev/null -w '%{http_code}' \
  -d 'username=piranha&password=the+right+password' "http://127.0.0.1:$PORT/login")"
