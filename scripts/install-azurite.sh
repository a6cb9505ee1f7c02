#!/usr/bin/env bash
# Installs Azurite (the Azure Storage emulator, from npm) into .local/tools/azurite-<version>/, plus Node.js and npm from
# Debian (scripts/install-prereqs.sh) when they are missing. The queue tests, the lag benchmark and scripts/func-local.sh
# use it. Idempotent.
# Prints the folder that holds node_modules/.bin/azurite.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${AZURITE_VERSION:-3.37.0}"
dir="${NEXUS_AZURITE_DIR:-$repo/.local/tools/azurite-$version}"

# Node.js and npm come from Debian, with the other prerequisites.
"$repo/scripts/install-prereqs.sh" >&2

if [ ! -x "$dir/node_modules/.bin/azurite" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent "azurite@$version" >&2
fi
echo "$dir"
