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

echo; echo "== migrate"; "$cli" migrate
echo; echo "== seed-demo"; "$cli" seed-demo
echo; echo "== archive"; "$cli" archive
echo; echo "== status"; "$cli" status
