#!/usr/bin/env bash
# The performance benchmark: starts the local Redis and PostgreSQL (scripts/local-servers.sh), builds in Release and
# runs every measurement with its baseline in the same run. Arguments pass through, e.g.
#   scripts/bench.sh --messages 1000000 --memory-scale 5
#   scripts/bench.sh --merge-scaling 1000000,10000000
#   scripts/bench.sh --views-at 1000000
#   scripts/bench.sh --latency 0,5,20 --messages 200000   # the initial load through proxies adding 0/5/20 ms round trip
#   scripts/bench.sh --pooler --messages 200000           # the same pass direct and through PgBouncer, transaction mode
#   scripts/bench.sh --redis-commands --messages 200000   # Redis commands per record / per no-op pass (INFO commandstats)
#   scripts/bench.sh --shards 4 --messages 200000         # 1 shard x 1 process vs 4 shards x 1 and x 4 CLI processes (docs/scaling.md)
# (docs/performance.md, "Network latency and the pooler"). PgBouncer comes from Debian's pgbouncer package: the
# `local-servers.sh start` below runs scripts/install-prereqs.sh, which apt-get installs it (and the servers) when missing.
# It uses Redis database 1 and the PostgreSQL database nexus_bench, both wiped at the start; demo data is left alone.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
eval "$(scripts/local-servers.sh start)"
if [[ " $* " == *" --lag "* ]]; then
  # The queue path's lag needs a queue: Azurite's queue service, in memory, on its own port, stopped on exit.
  azurite_dir="$(scripts/install-azurite.sh)"
  queue_port="${NEXUS_BENCH_QUEUE_PORT:-10011}"
  node "$azurite_dir/node_modules/azurite/dist/src/queue/main.js" --queueHost 127.0.0.1 --queuePort "$queue_port" \
    --inMemoryPersistence --silent --disableTelemetry --skipApiVersionCheck --loose &
  azurite_pid=$!
  trap 'kill $azurite_pid 2>/dev/null' EXIT
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$queue_port") 2>/dev/null && break; sleep 0.1; done
  export NEXUS_BENCH_QUEUE="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:${queue_port}/devstoreaccount1;"
  dotnet build Bench/NexusArchive.Bench.csproj -c Release -nologo -v quiet -o .local/bench >/dev/null
  dotnet .local/bench/nexus-archive-bench.dll "$@"
  exit $?
fi
dotnet build Bench/NexusArchive.Bench.csproj -c Release -nologo -v quiet -o .local/bench >/dev/null
exec dotnet .local/bench/nexus-archive-bench.dll "$@"
