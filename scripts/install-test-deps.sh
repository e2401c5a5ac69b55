#!/usr/bin/env bash
# Installs the XMPP servers the integration tests start on loopback: Prosody 0.12 with prosody-modules
# (mod_cloud_notify) and ejabberd 23.01, from Debian's packages. Idempotent; quick when present.
# The packages' own system services are not used: the tests run private instances on their own ports.
set -euo pipefail

missing=()
for pkg in prosody prosody-modules ejabberd; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: need root to install ${missing[*]} (or run: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "install-test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi
# A system ejabberd started by the package would hold node name ejabberd@localhost and port 5222:
# harmless to our private instances (own node names and ports), but stop it to keep the machine quiet.
if pgrep -u ejabberd -f beam.smp >/dev/null 2>&1; then
  /usr/sbin/ejabberdctl stop >/dev/null 2>&1 || true
fi
echo "install-test-deps: prosody $(dpkg-query -W -f='${Version}' prosody), prosody-modules $(dpkg-query -W -f='${Version}' prosody-modules), ejabberd $(dpkg-query -W -f='${Version}' ejabberd)"
