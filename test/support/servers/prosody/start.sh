#!/usr/bin/env bash
# Start a private, loopback-only Prosody 0.12 (Debian package, + prosody-modules for mod_cloud_notify)
# for the integration tests. Everything (config, data, logs, pid file) lives under $PH_RUN_DIR; it is
# wiped on every start unless PH_KEEP_STATE=1. Several instances can run at once: give each its own
# run dir and ports.
#
#   c2s                   127.0.0.1:$PH_C2S_PORT        no TLS (mod_tls not loaded), PLAIN + SCRAM-SHA-1
#   component (XEP-0114)  127.0.0.1:$PH_COMPONENT_PORT  $PH_COMPONENT_JID / $PH_COMPONENT_SECRET
#   no s2s, no HTTP, no direct TLS; VirtualHost "localhost"; users from $PH_USERS (internal_plain)
#   modules: cloud_notify (prosody-modules) + smacks, mam, carbons, csi_simple (core)
#
# Environment (unset = default shown):
#   PH_RUN_DIR           state dir                          (<repo>/.test-runs/prosody)
#   PH_C2S_PORT          c2s port                           (15222)
#   PH_COMPONENT_PORT    component port                     (15347)
#   PH_COMPONENT_JID     component domain                   (push.localhost)
#   PH_COMPONENT_SECRET  component secret                   (harness-secret)
#   PH_USERS             "user:password ..." to register    ("alice:alice-pass bob:bob-pass")
#   PH_WITH_BODY         push_notification_with_body   true|false     (Prosody default: false)
#   PH_WITH_SENDER       push_notification_with_sender true|false     (Prosody default: false)
#   PH_IMPORTANT_BODY    push_notification_important_body "<text>"    (default "New Message!"; "" blanks it)
#   PH_MAX_ERRORS        push_max_errors <n>                          (default 16)
#   PH_HIBERNATION_TIME  smacks_hibernation_time <s>                  (default 600)
#   PH_START_TIMEOUT     seconds to wait for the ports                (30)
#   PH_LOAD_COMPONENT_JID / PH_LOAD_COMPONENT_SECRET
#                        a second component: the benchmark's load generator, which plays the
#                        XMPP server of the users at its own domain                 (unset: none)
#   PH_NAGLE             network_settings.nagle true|false   (Prosody default: true; its epoll
#                        backend then holds a small write until the peer acknowledges the last
#                        one, which adds up to one inter-arrival gap to a stanza at low rates)
#   PH_LOG_LEVEL         debug|info|warn: debug also writes prosody-debug.log  (debug)
#   PH_KEEP_STATE=1      keep $PH_RUN_DIR (users, offline messages, push registrations) across a restart
#
# Prints "PROSODY_PID=<pid>" on success; exit code != 0 on failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../../../.." && pwd -P)"

PH_RUN_DIR="$(realpath -m "${PH_RUN_DIR:-$REPO/.test-runs/prosody}")"
PH_C2S_PORT="${PH_C2S_PORT:-15222}"
PH_COMPONENT_PORT="${PH_COMPONENT_PORT:-15347}"
PH_COMPONENT_JID="${PH_COMPONENT_JID:-push.localhost}"
PH_COMPONENT_SECRET="${PH_COMPONENT_SECRET:-harness-secret}"
PH_USERS="${PH_USERS:-alice:alice-pass bob:bob-pass}"
START_TIMEOUT="${PH_START_TIMEOUT:-30}"
PH_DOMAIN="localhost"
CFG="$PH_RUN_DIR/prosody.cfg.lua"
DATA_DIR="$PH_RUN_DIR/data"
PID_FILE="$PH_RUN_DIR/prosody.pid"
LOG="$PH_RUN_DIR/prosody.log"
DEBUG_LOG="$PH_RUN_DIR/prosody-debug.log"
STDOUT="$PH_RUN_DIR/prosody.stdout"
# Proves a directory is ours before start.sh wipes it: PH_RUN_DIR comes from the environment, and a
# mistaken value (say, $HOME) must not be rm -rf'ed.
MARKER="$PH_RUN_DIR/.xmpp-push-prosody-run"

die() { echo "prosody/start.sh: $*" >&2; exit 1; }
is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

command -v prosody >/dev/null && command -v prosodyctl >/dev/null \
  || die "prosody is not installed: run scripts/install-test-deps.sh (apt-get install -y prosody prosody-modules)"
[ -f /usr/lib/prosody/modules/mod_cloud_notify/mod_cloud_notify.lua ] \
  || die "mod_cloud_notify missing: run scripts/install-test-deps.sh (apt-get install -y prosody-modules)"
is_port "$PH_C2S_PORT" || die "PH_C2S_PORT: not a port: '$PH_C2S_PORT'"
is_port "$PH_COMPONENT_PORT" || die "PH_COMPONENT_PORT: not a port: '$PH_COMPONENT_PORT'"

if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  die "an instance is already running in $PH_RUN_DIR (pid $(cat "$PID_FILE")); run stop.sh first"
fi
for p in "$PH_C2S_PORT" "$PH_COMPONENT_PORT"; do
  if ss -Hltn "sport = :$p" | grep -q .; then
    ss -ltnp "sport = :$p" >&2 || true
    die "port $p is already in use on this machine"
  fi
done

t0=$(date +%s.%N)
if [ "${PH_KEEP_STATE:-0}" != 1 ] && [ -e "$PH_RUN_DIR" ]; then
  if [ -n "$(ls -A "$PH_RUN_DIR")" ] && ! [ -f "$MARKER" ]; then
    die "$PH_RUN_DIR is not empty and was not made by this script; refusing to wipe it"
  fi
  rm -rf "$PH_RUN_DIR"
fi
mkdir -p "$PH_RUN_DIR" "$DATA_DIR" "$PH_RUN_DIR/certs"
touch "$MARKER"
chmod 700 "$PH_RUN_DIR" "$DATA_DIR"

# ---- Lua values --------------------------------------------------------------
lua_str() { # quote a shell string as a Lua string literal
  local s="$1"
  s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//$'\n'/\\n}"
  printf '"%s"' "$s"
}
lua_bool() {
  case "$1" in
    true|false) printf '%s' "$1" ;;
    *) die "expected true|false, got '$1'" ;;
  esac
}
lua_num() {
  [[ "$1" =~ ^[0-9]+$ ]] || die "expected a number, got '$1'"
  printf '%s' "$1"
}

push_opts=""
[ -n "${PH_WITH_BODY+x}" ]        && push_opts+="push_notification_with_body = $(lua_bool "$PH_WITH_BODY")"$'\n'
[ -n "${PH_WITH_SENDER+x}" ]      && push_opts+="push_notification_with_sender = $(lua_bool "$PH_WITH_SENDER")"$'\n'
[ -n "${PH_IMPORTANT_BODY+x}" ]   && push_opts+="push_notification_important_body = $(lua_str "$PH_IMPORTANT_BODY")"$'\n'
[ -n "${PH_MAX_ERRORS+x}" ]       && push_opts+="push_max_errors = $(lua_num "$PH_MAX_ERRORS")"$'\n'
[ -n "${PH_HIBERNATION_TIME+x}" ] && push_opts+="smacks_hibernation_time = $(lua_num "$PH_HIBERNATION_TIME")"$'\n'
[ -n "$push_opts" ] || push_opts="-- (none: Prosody / mod_cloud_notify defaults)"$'\n'

# A benchmark measures Prosody's routing, not its debug logging: PH_LOG_LEVEL=warn|info turns it off.
PH_LOG_LEVEL="${PH_LOG_LEVEL:-debug}"
case "$PH_LOG_LEVEL" in
  debug) INFO_LEVEL=info
         debug_log="  -- mod_cloud_notify logs how it handles the app server's replies at debug level."$'\n'
         debug_log+="  { levels = { min = \"debug\" }, to = \"file\", filename = $(lua_str "$DEBUG_LOG") };"$'\n' ;;
  info|warn) INFO_LEVEL="$PH_LOG_LEVEL"; debug_log="" ;;
  *) die "PH_LOG_LEVEL: expected debug|info|warn, got '$PH_LOG_LEVEL'" ;;
esac

network_settings=""
[ -n "${PH_NAGLE+x}" ] && network_settings="network_settings = { nagle = $(lua_bool "$PH_NAGLE") }"

load_component=""
if [ -n "${PH_LOAD_COMPONENT_JID:-}" ]; then
  load_component="Component $(lua_str "$PH_LOAD_COMPONENT_JID")"$'\n'
  load_component+="  component_secret = $(lua_str "${PH_LOAD_COMPONENT_SECRET:?PH_LOAD_COMPONENT_SECRET is required with PH_LOAD_COMPONENT_JID}")"$'\n'
fi

# ---- config -------------------------------------------------------------------
cat > "$CFG" <<EOF
-- Generated by test/support/servers/prosody/start.sh; rewritten on every start.
-- Prosody $(cat /usr/lib/prosody/prosody.version 2>/dev/null || echo '?') (Debian), loopback only.

-- Test machines and CI containers run as root; mod_posix refuses to without this (and prosodyctl
-- would setuid to 'prosody', which cannot write our run dir).
run_as_root = true
pidfile = $(lua_str "$PH_RUN_DIR/prosody-posix.pid") -- mod_posix's own (locked) pid file; start.sh/stop.sh use prosody.pid
data_path = $(lua_str "$DATA_DIR")
certificates = $(lua_str "$PH_RUN_DIR/certs") -- empty on purpose (no TLS); avoids a certmanager error

log = {
  { levels = { min = $(lua_str "$INFO_LEVEL") }, to = "file", filename = $(lua_str "$LOG") };
$debug_log}

$network_settings
-- Loopback only, our own ports, nothing else listening.
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $PH_C2S_PORT }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
component_ports = { $PH_COMPONENT_PORT }
component_interfaces = { "127.0.0.1" }
s2s_ports = { }
s2s_direct_tls_ports = { }

modules_enabled = {
  "roster"; "saslauth"; "disco"; "ping"; "time"; "version";
  "carbons";      -- XEP-0280 (mod_cloud_notify's README: needs smacks, mam and carbons)
  "smacks";       -- XEP-0198: hibernation => pushes for queued stanzas
  "mam";          -- XEP-0313: 'archive-message-added' => pushes while another device is online
  "csi_simple";   -- XEP-0352
  "cloud_notify"; -- XEP-0357 (prosody-modules package)
}
modules_disabled = {
  "s2s";          -- no server-to-server at all
}
-- mod_tls is not loaded (no certificates on purpose): plain c2s on loopback.
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
allow_registration = false
default_archive_policy = true

-- mod_cloud_notify / mod_smacks options chosen by start.sh's environment:
$push_opts
VirtualHost "localhost"

Component $(lua_str "$PH_COMPONENT_JID")
  component_secret = $(lua_str "$PH_COMPONENT_SECRET")

$load_component
EOF

# ---- users (written straight into the internal storage while prosody is not running) ----
for up in $PH_USERS; do
  u="${up%%:*}"; pw="${up#*:}"
  prosodyctl --config "$CFG" register "$u" "$PH_DOMAIN" "$pw" >>"$PH_RUN_DIR/prosodyctl.log" 2>&1 \
    || { cat "$PH_RUN_DIR/prosodyctl.log" >&2; die "prosodyctl register $u failed"; }
done

# ---- start ------------------------------------------------------------------
# -F keeps prosody in the foreground of this background job, so $! is prosody's own PID
# (/usr/bin/prosody is a '#!/usr/bin/env lua5.4' script: env execs, the PID is unchanged).
# setsid: own session, so a Ctrl-C / SIGHUP of the calling shell or test runner doesn't reach it.
# With PH_KEEP_STATE=1 the log is appended to: only what this start writes counts below.
log_offset=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
setsid prosody -F --config "$CFG" >"$STDOUT" 2>&1 </dev/null &
pid=$!
echo "$pid" > "$PID_FILE"

deadline=$(( $(date +%s) + START_TIMEOUT ))
while :; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "---- $STDOUT" >&2; cat "$STDOUT" >&2 || true
    echo "---- $LOG" >&2; tail -30 "$LOG" >&2 || true
    rm -f "$PID_FILE"
    die "prosody (pid $pid) exited during startup"
  fi
  # Prosody keeps running when it cannot bind a port (it only logs it): fail now, so that the
  # caller can retry with other ports instead of waiting for the timeout.
  if tail -c +$((log_offset + 1)) "$LOG" 2>/dev/null | grep -q "Failed to open server port"; then
    tail -c +$((log_offset + 1)) "$LOG" | grep "Failed to open server port" >&2
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    die "prosody could not bind its ports (stopped pid $pid)"
  fi
  # The port must be held by *this* prosody: someone else listening there is a port race, not a start.
  up=1
  for p in "$PH_C2S_PORT" "$PH_COMPONENT_PORT"; do
    ss -Hltnp "src 127.0.0.1 and sport = :$p" | grep -q "pid=$pid," || up=0
  done
  [ "$up" = 1 ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    tail -30 "$LOG" >&2 || true
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    die "ports $PH_C2S_PORT/$PH_COMPONENT_PORT not open after ${START_TIMEOUT}s (stopped pid $pid)"
  fi
  sleep 0.05
done

# Loopback only is a promise of this script, not just of the config: check what the process really
# listens on (port and address), and refuse to leave anything else open.
listening="$(ss -Hltnp | grep "pid=$pid," | awk '{print $4}' | sort | tr '\n' ' ')"
for addr in $listening; do
  case "$addr" in
    127.0.0.1:"$PH_C2S_PORT"|127.0.0.1:"$PH_COMPONENT_PORT") ;;
    *) kill -TERM "$pid" 2>/dev/null || true
       rm -f "$PID_FILE"
       die "prosody listens on $addr (expected only 127.0.0.1:$PH_C2S_PORT and :$PH_COMPONENT_PORT); stopped it" ;;
  esac
done
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
echo "prosody/start.sh: prosody $(cat /usr/lib/prosody/prosody.version 2>/dev/null) up in ${elapsed}s, listening on: $listening"
echo "prosody/start.sh: config $CFG, logs $LOG (+ $DEBUG_LOG)"
echo "PROSODY_PID=$pid"
