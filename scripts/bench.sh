#!/usr/bin/env bash
# The performance benchmark: starts the local Redis and PostgreSQL (scripts/local-servers.sh), builds in Release and
# runs every measurement with its baseline in the same run. Arguments pass through, e.g.
#   scripts/bench.sh --messages 1000000 --memory-scale 5
#   scripts/bench.sh --merge-scaling 1000000,10000000
# It uses Redis database 1 and the PostgreSQL database nexus_bench, both wiped at the start; demo data is left alone.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
eval "$(scripts/local-servers.sh start)"
dotnet build Bench/NexusArchive.Bench.csproj -c Release -nologo -v quiet -o .local/bench >/dev/null
exec dotnet .local/bench/nexus-archive-bench.dll "$@"
