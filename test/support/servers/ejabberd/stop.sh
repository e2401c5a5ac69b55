#!/usr/bin/env bash
# Stop ONLY the ejabberd that start.sh started in $EJH_RUN_DIR (identified by its pid file and its node
# name, both read from the run dir). Never touches other beam/epmd processes. Idempotent.
#
#   EJH_RUN_DIR   the instance's state dir (default <repo>/.test-runs/ejabberd, as in start.sh)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../../../.." && pwd -P)"
EJH_RUN_DIR="$(realpath -m "${EJH_RUN_DIR:-$REPO/.test-runs/ejabberd}")"
PID_FILE="$EJH_RUN_DIR/ejabberd.pid"
CTL_CFG="$EJH_RUN_DIR/ejabberdctl.cfg"

if ! [ -s "$PID_FILE" ]; then
  echo "ejabberd/stop.sh: no pid file ($PID_FILE): nothing to stop"
  exit 0
fi
PID="$(cat "$PID_FILE")"
if ! [[ "$PID" =~ ^[0-9]+$ ]]; then
  echo "ejabberd/stop.sh: bad pid file content: '$PID'" >&2
  exit 1
fi
if ! kill -0 "$PID" 2>/dev/null; then
  echo "ejabberd/stop.sh: pid $PID not running; removing stale pid file"
  rm -f "$PID_FILE"
  exit 0
fi
# The node name is whatever start.sh chose for this run dir (it wrote it into the ctl config).
NODE="$(sed -n 's/^ERLANG_NODE=//p' "$CTL_CFG" 2>/dev/null | tail -n 1)"
if [ -z "$NODE" ]; then
  echo "ejabberd/stop.sh: no ERLANG_NODE in $CTL_CFG; refusing to touch pid $PID" >&2
  exit 1
fi
# Make sure the pid really is our node before signalling it.
if ! tr '\0' ' ' < "/proc/$PID/cmdline" | grep -q -- " $NODE "; then
  echo "ejabberd/stop.sh: pid $PID is not node $NODE; refusing to touch it" >&2
  exit 1
fi

# SIGTERM makes the Erlang VM (OTP >= 19) run init:stop(), the same clean shutdown as 'ejabberdctl
# stop' (mnesia is closed properly, so a restart with EJH_KEEP_STATE=1 finds its data), without
# booting a second VM just to send the command.
kill -TERM "$PID" 2>/dev/null || true
for _ in $(seq 1 200); do            # up to 20 s for a clean shutdown
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
  echo "ejabberd/stop.sh: SIGTERM did not stop $PID within 20 s; SIGKILL" >&2
  kill -KILL "$PID" 2>/dev/null || true
  sleep 0.5
fi
if kill -0 "$PID" 2>/dev/null; then
  echo "ejabberd/stop.sh: pid $PID still running" >&2
  exit 1
fi
rm -f "$PID_FILE"
echo "ejabberd/stop.sh: node $NODE (pid $PID) stopped"
