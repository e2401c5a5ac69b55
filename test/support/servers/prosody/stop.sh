#!/usr/bin/env bash
# Stop the Prosody that start.sh started in $PH_RUN_DIR -- only that process (PID from its pid file,
# checked against /proc/PID/cmdline for this run dir's config), never by name. Idempotent.
#
#   PH_RUN_DIR   the instance's state dir (default <repo>/.test-runs/prosody, as in start.sh)
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../../../.." && pwd -P)"
PH_RUN_DIR="$(realpath -m "${PH_RUN_DIR:-$REPO/.test-runs/prosody}")"
CFG="$PH_RUN_DIR/prosody.cfg.lua"
PID_FILE="$PH_RUN_DIR/prosody.pid"

if ! [ -f "$PID_FILE" ]; then
  echo "prosody/stop.sh: no pid file ($PID_FILE); nothing to stop"
  exit 0
fi
pid="$(cat "$PID_FILE")"
if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
  echo "prosody/stop.sh: bad pid file content: '$pid'" >&2
  exit 1
fi
if ! kill -0 "$pid" 2>/dev/null; then
  echo "prosody/stop.sh: prosody pid $pid is not running (stale pid file removed)"
  rm -f "$PID_FILE"
  exit 0
fi
# Pid files go stale and PIDs get reused: make sure this PID is *this* instance's prosody.
cmdline="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
case "$cmdline" in
  *prosody*"$CFG"*) ;;
  *) echo "prosody/stop.sh: pid $pid is not the prosody of $PH_RUN_DIR (cmdline: $cmdline); not killing it" >&2
     exit 1 ;;
esac

kill -TERM "$pid"
for _ in $(seq 1 100); do            # up to 5 s for a clean shutdown
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
if kill -0 "$pid" 2>/dev/null; then
  echo "prosody/stop.sh: prosody pid $pid ignored SIGTERM for 5 s, sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
fi
if kill -0 "$pid" 2>/dev/null; then
  echo "prosody/stop.sh: prosody pid $pid still running" >&2
  exit 1
fi
rm -f "$PID_FILE"
echo "prosody/stop.sh: prosody pid $pid stopped"
