#!/usr/bin/env bash
# Local Functions run: starts Azurite (from npm, into .local/) plus the project-local Redis and PostgreSQL
# (scripts/local-servers.sh), writes local.settings.json from the sample if there is none, and prints how to
# `func start` and kick a run with curl.
#   scripts/func-local.sh          # start (idempotent)
#   scripts/func-local.sh stop     # stop Azurite, Redis and PostgreSQL
# Azure Functions Core Tools (`func`) are not installed here: their npm package downloads the real binaries
# from outside the npm registry. Install them from Microsoft's packages on a developer machine.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="${NEXUS_LOCAL_DIR:-$repo/.local}"
azurite_version="${AZURITE_VERSION:-3.37.0}"
azurite_dir="$local_dir/tools/azurite-$azurite_version"
azurite="$azurite_dir/node_modules/.bin/azurite"
pid_file="$local_dir/azurite.pid"

stop() {
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    kill "$(cat "$pid_file")"
    echo "azurite stopped" >&2
  fi
  rm -f "$pid_file"
  "$repo/scripts/local-servers.sh" stop
}

start() {
  NEXUS_AZURITE_DIR="$azurite_dir" AZURITE_VERSION="$azurite_version" "$repo/scripts/install-azurite.sh" >/dev/null

  mkdir -p "$local_dir/azurite" "$local_dir/log"
  if ! { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }; then
    # --skipApiVersionCheck: the Functions host's storage SDK may be newer than this Azurite.
    nohup "$azurite" --silent --disableTelemetry --skipApiVersionCheck --location "$local_dir/azurite" \
      --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
      >"$local_dir/log/azurite.log" 2>&1 &
    echo $! > "$pid_file"
    for _ in $(seq 100); do
      (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null && break
      sleep 0.1
    done
    (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null || { echo "Azurite did not start; see $local_dir/log/azurite.log" >&2; exit 1; }
  fi
  echo "Azurite on 127.0.0.1:10000-10002 (data in $local_dir/azurite)" >&2

  local env_lines
  env_lines="$("$repo/scripts/local-servers.sh" start)"
  if [ ! -f "$repo/local.settings.json" ]; then
    # The sample names the default ports; follow NEXUS_REDIS_PORT / NEXUS_PG_PORT if they were changed.
    sed -e "s/127.0.0.1:6390/127.0.0.1:${NEXUS_REDIS_PORT:-6390}/" -e "s/Port=5442/Port=${NEXUS_PG_PORT:-5442}/" \
      "$repo/local.settings.sample.json" > "$repo/local.settings.json"
    echo "Wrote local.settings.json from local.settings.sample.json (git-ignored; edit freely)." >&2
  fi

  cat <<TEXT

Local servers are up. Connection strings (as in local.settings.json; export them for the CLI):
$env_lines

Next, with Azure Functions Core Tools v4 installed:
  cd Functions && func start            # builds, then serves http://localhost:7071 (no function key locally)

Kick a bounded pass and read the status:
  curl -s -X POST http://localhost:7071/api/archive/run -H 'Content-Type: application/json' \\
       -d '{"entities":["message"],"maxDuration":"00:01:00"}'
  curl -s http://localhost:7071/api/archive/status

Demo data:  dotnet run --project Cli -- seed-demo     (uses the same connection strings when exported)
Stop all:   scripts/func-local.sh stop
TEXT
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
