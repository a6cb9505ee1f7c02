#!/usr/bin/env bash
# The whole pipeline on this machine: local Redis + PostgreSQL (installed and started if needed), demo data
# written through the Lua record writer, migrations, one archive pass, and the status report.
# Run it again: the demo data is already there, so the pass has nothing new to archive.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

eval "$(scripts/local-servers.sh start)"
echo "Building the CLI..." >&2
dotnet build Cli/NexusArchive.Cli.csproj -c Release -nologo -v quiet -o .local/cli >/dev/null
cli=".local/cli/nexus-archive"

echo; echo "== migrate (as the admin role)"; "$cli" migrate

# Least privilege, as in production: archive and status run as a login role in nexus_archiver (docs/security.md).
pg_port="$(sed -nE 's/.*Port=([0-9]+).*/\1/p' <<<"$ConnectionStrings__Postgres")"
PGPASSWORD=postgres psql -h 127.0.0.1 -p "$pg_port" -U postgres -d nexus_archive -qtAc \
  "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nexus_archiver_demo') THEN
     CREATE ROLE nexus_archiver_demo LOGIN PASSWORD 'archiver' IN ROLE nexus_archiver; END IF; END \$\$" >/dev/null
export ConnectionStrings__Postgres="Host=127.0.0.1;Port=${pg_port};Database=nexus_archive;Username=nexus_archiver_demo;Password=archiver"

echo; echo "== seed-demo"; "$cli" seed-demo
echo; echo "== archive (as nexus_archiver_demo)"; "$cli" archive
echo; echo "== status"; "$cli" status
