#!/usr/bin/env bash
# Start a private, loopback-only ejabberd 23.01 (Debian package) for the integration tests. Everything
# (config, mnesia spool, logs, pid file, Erlang cookie) lives under $EJH_RUN_DIR; it is wiped on every
# start unless EJH_KEEP_STATE=1. Several instances can run at once: give each its own run dir and ports
# (the Erlang node name is derived from the run dir unless EJH_NODE is given).
#
#   c2s                          127.0.0.1:$EJH_C2S_PORT        no TLS, SCRAM/PLAIN
#   ejabberd_service (XEP-0114)  127.0.0.1:$EJH_COMPONENT_PORT  $EJH_COMPONENT_JID / $EJH_COMPONENT_SECRET
#   Erlang distribution          127.0.0.1:$EJH_DIST_PORT       epmd-less (no epmd is started or used)
#   no s2s (s2s_access: none), no HTTP listener, ACME off; users from $EJH_USERS
#
# Environment (unset = default shown):
#   EJH_RUN_DIR          state dir                              (<repo>/.test-runs/ejabberd)
#   EJH_C2S_PORT         c2s port                               (25222)
#   EJH_COMPONENT_PORT   component port                         (25347)
#   EJH_DIST_PORT        Erlang distribution port               (25370)
#   EJH_NODE             Erlang node name                       (ejh-<hash of run dir>@localhost)
#   EJH_COMPONENT_JID    component domain                       (push.localhost)
#   EJH_COMPONENT_SECRET component secret                       (harness-secret)
#   EJH_USERS            "user:password ..." to register        ("alice:alice-pass bob:bob-pass")
#   EJH_INCLUDE_SENDER   mod_push include_sender: true|false           (ejabberd default: false)
#   EJH_INCLUDE_BODY     mod_push include_body:   true|false|<text>    (ejabberd default: "New message")
#   EJH_MAM=1            also load mod_mam                      (0)
#   EJH_LOGLEVEL         ejabberd loglevel                      (info)
#   EJH_START_TIMEOUT    seconds to wait for the ports          (60)
#   EJH_KEEP_STATE=1     keep $EJH_RUN_DIR (mnesia: users, offline messages, push sessions) across a restart
#
# Prints "EJABBERD_PID=<pid>" on success; exit code != 0 on failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../../../.." && pwd -P)"

EJH_RUN_DIR="$(realpath -m "${EJH_RUN_DIR:-$REPO/.test-runs/ejabberd}")"
EJH_C2S_PORT="${EJH_C2S_PORT:-25222}"
EJH_COMPONENT_PORT="${EJH_COMPONENT_PORT:-25347}"
EJH_DIST_PORT="${EJH_DIST_PORT:-25370}"
# mnesia tables belong to the node name, so it must stay the same across restarts of one run dir
# and differ between run dirs: a hash of the run dir gives both.
EJH_NODE="${EJH_NODE:-ejh-$(printf '%s' "$EJH_RUN_DIR" | sha1sum | cut -c1-12)@localhost}"
EJH_COMPONENT_JID="${EJH_COMPONENT_JID:-push.localhost}"
EJH_COMPONENT_SECRET="${EJH_COMPONENT_SECRET:-harness-secret}"
EJH_USERS="${EJH_USERS:-alice:alice-pass bob:bob-pass}"
INCLUDE_SENDER="${EJH_INCLUDE_SENDER:-false}"
INCLUDE_BODY="${EJH_INCLUDE_BODY:-New message}"
MAM="${EJH_MAM:-0}"
LOGLEVEL="${EJH_LOGLEVEL:-info}"
START_TIMEOUT="${EJH_START_TIMEOUT:-60}"
SPOOL_DIR="$EJH_RUN_DIR/spool"
LOG_DIR="$EJH_RUN_DIR/logs"
PID_FILE="$EJH_RUN_DIR/ejabberd.pid"
# Proves a directory is ours before start.sh wipes it (EJH_RUN_DIR comes from the environment).
MARKER="$EJH_RUN_DIR/.xmpp-push-ejabberd-run"

die() { echo "ejabberd/start.sh: $*" >&2; exit 1; }
is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

[ -x /usr/sbin/ejabberdctl ] || die "/usr/sbin/ejabberdctl missing: run scripts/install-test-deps.sh (apt-get install -y ejabberd)"
is_port "$EJH_C2S_PORT" || die "EJH_C2S_PORT: not a port: '$EJH_C2S_PORT'"
is_port "$EJH_COMPONENT_PORT" || die "EJH_COMPONENT_PORT: not a port: '$EJH_COMPONENT_PORT'"
is_port "$EJH_DIST_PORT" || die "EJH_DIST_PORT: not a port: '$EJH_DIST_PORT'"
[[ "$EJH_NODE" =~ ^[A-Za-z0-9_-]+@localhost$ ]] || die "EJH_NODE must look like name@localhost, got '$EJH_NODE'"

if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  die "an instance is already running in $EJH_RUN_DIR (pid $(cat "$PID_FILE")); run stop.sh first"
fi
for p in "$EJH_C2S_PORT" "$EJH_COMPONENT_PORT" "$EJH_DIST_PORT"; do
  if ss -Hltn "sport = :$p" | grep -q .; then
    ss -ltnp "sport = :$p" >&2 || true
    die "port $p is already in use on this machine"
  fi
done

t0=$(date +%s.%N)
if [ "${EJH_KEEP_STATE:-0}" != 1 ] && [ -e "$EJH_RUN_DIR" ]; then
  if [ -n "$(ls -A "$EJH_RUN_DIR")" ] && ! [ -f "$MARKER" ]; then
    die "$EJH_RUN_DIR is not empty and was not made by this script; refusing to wipe it"
  fi
  rm -rf "$EJH_RUN_DIR"
fi
mkdir -p "$EJH_RUN_DIR" "$SPOOL_DIR" "$LOG_DIR"
touch "$MARKER"
chmod 700 "$EJH_RUN_DIR"
# A random cookie per run dir rather than a fixed string: another instance's ctl cannot reach this node
# by mistake. Kept with the state so that ejabberdctl still reaches the node after a restart.
COOKIE_FILE="$EJH_RUN_DIR/cookie"
[ -s "$COOKIE_FILE" ] || (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$COOKIE_FILE")
COOKIE="$(cat "$COOKIE_FILE")"

# ---- YAML values -----------------------------------------------------------
yaml_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
yaml_bool_or_text() {
  case "$1" in
    true|false) printf '%s' "$1" ;;
    *) yaml_str "$1" ;;
  esac
}
SENDER_YAML="$(yaml_bool_or_text "$INCLUDE_SENDER")"
BODY_YAML="$(yaml_bool_or_text "$INCLUDE_BODY")"
MAM_YAML=""
if [ "$MAM" = 1 ]; then
  MAM_YAML=$'  mod_mam:\n    db_type: mnesia\n    default: always'
fi

# ---- ejabberd.yml ----------------------------------------------------------
cat > "$EJH_RUN_DIR/ejabberd.yml" <<EOF
# Generated by test/support/servers/ejabberd/start.sh; loopback-only test instance.
hosts:
  - localhost

loglevel: $LOGLEVEL
log_rotate_count: 0
hide_sensitive_log_data: false

# Never talk to the outside world: no ACME, no outgoing s2s.
acme:
  auto: false
s2s_access: none

auth_method: internal
auth_password_format: plain
disable_sasl_mechanisms:
  - "digest-md5"
  - "X-OAUTH2"

listen:
  -
    port: $EJH_C2S_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    access: c2s
    starttls: false
    starttls_required: false
  -
    port: $EJH_COMPONENT_PORT
    ip: "127.0.0.1"
    module: ejabberd_service
    access: all
    hosts:
      $(yaml_str "$EJH_COMPONENT_JID"):
        password: $(yaml_str "$EJH_COMPONENT_SECRET")

acl:
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8

access_rules:
  local:
    allow: local
  c2s:
    allow: all

shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages: 5000

api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"

modules:
  mod_disco: {}
  mod_client_state: {}
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_stream_mgmt:
    resume_timeout: 300
  mod_push:
    include_sender: $SENDER_YAML
    include_body: $BODY_YAML
  mod_push_keepalive: {}
$MAM_YAML
EOF

# ---- ejabberdctl.cfg (sourced by /usr/sbin/ejabberdctl via --ctl-config; stop.sh reads it too) ----
cat > "$EJH_RUN_DIR/ejabberdctl.cfg" <<EOF
# Generated by start.sh. Sourced by /usr/sbin/ejabberdctl.
# Run as the invoking user instead of 'su ejabberd', so that all state can stay in this directory.
EXEC_CMD=as_current_user
ERLANG_NODE=$EJH_NODE
# epmd-less distribution on a given loopback port: no shared epmd, so instances (and a system
# ejabberd@localhost) cannot clash on node registration.
ERL_DIST_PORT=$EJH_DIST_PORT
INET_DIST_INTERFACE=127.0.0.1
EJABBERD_PID_PATH=$PID_FILE
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie $COOKIE"
EJABBERD_BYPASS_WARNINGS=true
EOF

# inetrc: resolve only from the hosts file (no DNS traffic from this node).
cat > "$EJH_RUN_DIR/inetrc" <<'EOF'
{lookup,["file"]}.
{host,{127,0,0,1}, ["localhost"]}.
EOF

# ejabberdctl bound to this instance only (own config dir, ctl config, spool, logs, node).
# HOME points into the run dir so Erlang never touches the caller's ~/.erlang.cookie.
ejh_ctl() {
  HOME="$EJH_RUN_DIR" /usr/sbin/ejabberdctl \
    --config-dir "$EJH_RUN_DIR" \
    --config "$EJH_RUN_DIR/ejabberd.yml" \
    --ctl-config "$EJH_RUN_DIR/ejabberdctl.cfg" \
    --spool "$SPOOL_DIR" \
    --logs "$LOG_DIR" \
    --node "$EJH_NODE" \
    "$@"
}

# With EJH_KEEP_STATE=1 the log is appended to: only what this start writes counts below.
log_offset=$(stat -c %s "$LOG_DIR/ejabberd.log" 2>/dev/null || echo 0)
ejh_ctl start

# ---- wait for the pid file and the listening ports -------------------------
deadline=$(( $(date +%s) + START_TIMEOUT ))
fail_start() {
  echo "ejabberd/start.sh: $*; last log lines:" >&2
  tail -n 40 "$LOG_DIR/ejabberd.log" "$LOG_DIR/error.log" >&2 2>/dev/null || true
  if [ -s "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    kill -TERM "$(cat "$PID_FILE")" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  exit 1
}
PID=""
while :; do
  # A listener that cannot bind stops the whole node (logged, nothing else): fail now, so that the
  # caller can retry with other ports instead of waiting for the timeout.
  if tail -c +$((log_offset + 1)) "$LOG_DIR/ejabberd.log" 2>/dev/null | grep -q "Failed to start ejabberd application"; then
    fail_start "ejabberd failed to start (port in use?)"
  fi
  if [ -z "$PID" ] && [ -s "$PID_FILE" ]; then PID="$(cat "$PID_FILE")"; fi
  if [ -n "$PID" ]; then
    kill -0 "$PID" 2>/dev/null || fail_start "ejabberd (pid $PID) exited during startup"
    # The ports must be held by *this* node: someone else listening there is a port race, not a start.
    up=1
    for p in "$EJH_C2S_PORT" "$EJH_COMPONENT_PORT"; do
      ss -Hltnp "src 127.0.0.1 and sport = :$p" | grep -q "pid=$PID," || up=0
    done
    [ "$up" = 1 ] && break
  fi
  [ "$(date +%s)" -ge "$deadline" ] && fail_start "ports $EJH_C2S_PORT/$EJH_COMPONENT_PORT not open after ${START_TIMEOUT}s"
  sleep 0.1
done
t_ports=$(date +%s.%N)

# Loopback only is a promise of this script: check what the node really listens on.
listening="$(ss -Hltnp | grep "pid=$PID," | awk '{print $4}' | sort | tr '\n' ' ')"
for addr in $listening; do
  case "$addr" in
    127.0.0.1:"$EJH_C2S_PORT"|127.0.0.1:"$EJH_COMPONENT_PORT"|127.0.0.1:"$EJH_DIST_PORT") ;;
    *) fail_start "ejabberd listens on $addr (expected only 127.0.0.1:$EJH_C2S_PORT, :$EJH_COMPONENT_PORT, :$EJH_DIST_PORT)" ;;
  esac
done

# ---- users (ejabberdctl over the epmd-less distribution; each call boots an Erlang VM, so in parallel)
pids=()
for up in $EJH_USERS; do
  u="${up%%:*}"; pw="${up#*:}"
  (
    out="$(ejh_ctl register "$u" localhost "$pw" 2>&1)" && exit 0
    # With EJH_KEEP_STATE=1 the users are already in mnesia.
    [ "${EJH_KEEP_STATE:-0}" = 1 ] && [[ "$out" == *"already registered"* ]] && exit 0
    echo "ejabberd/start.sh: register $u failed: $out" >&2
    exit 1
  ) &
  pids+=("$!")
done
for p in "${pids[@]}"; do
  wait "$p" || fail_start "user registration failed"
done
t1=$(date +%s.%N)

echo "ejabberd/start.sh: node $EJH_NODE up: c2s 127.0.0.1:$EJH_C2S_PORT, component $EJH_COMPONENT_JID@127.0.0.1:$EJH_COMPONENT_PORT, listening on: $listening"
echo "ejabberd/start.sh: mod_push include_sender=$SENDER_YAML include_body=$BODY_YAML mam=$MAM; users: $(for up in $EJH_USERS; do printf '%s ' "${up%%:*}"; done)"
awk -v a="$t0" -v b="$t_ports" -v c="$t1" \
  'BEGIN { printf "ejabberd/start.sh: ports open after %.2fs, users registered after %.2fs\n", b - a, c - a }'
echo "EJABBERD_PID=$PID"
