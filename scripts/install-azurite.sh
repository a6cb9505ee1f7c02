#!/usr/bin/env bash
# Installs Azurite (the Azure Storage emulator, from npm) into .local/tools/azurite-<version>/, plus Node.js and npm from
# Debian when they are missing. The queue tests, the lag benchmark and scripts/func-local.sh use it. Idempotent.
# Prints the folder that holds node_modules/.bin/azurite.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${AZURITE_VERSION:-3.37.0}"
dir="${NEXUS_AZURITE_DIR:-$repo/.local/tools/azurite-$version}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Installing: nodejs npm" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "Node.js and npm are missing and there is no root or sudo to install them: apt-get install nodejs npm" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

if [ ! -x "$dir/node_modules/.bin/azurite" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent "azurite@$version" >&2
fi
echo "$dir"
