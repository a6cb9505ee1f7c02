#!/usr/bin/env bash
# Runs every test: unit, integration, end-to-end and fault-injection tests against real redis-server and PostgreSQL
# processes that the test fixture starts from their binaries on free loopback ports (installed here if missing),
# Azurite for the queue tests, the benchmark's smoke run, the offline Bicep compile of infra/ (fails on any warning), and
# the TypeScript client's node tests (scripts/test-client.sh; its end-to-end test runs the CLI the dotnet build leaves in
# Cli/bin/Release).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

scripts/install-prereqs.sh
# Azurite (npm) for the queue tests; the fixture finds it in .local/tools/ (NEXUS_AZURITE_DIR overrides).
NEXUS_AZURITE_DIR="$(scripts/install-azurite.sh)"
export NEXUS_AZURITE_DIR
scripts/check-infra.sh
status=0
dotnet test NexusArchive.Functions.sln -c Release --nologo "$@" || status=$?
# Also after a dotnet failure (the CLI is built unless the build itself failed): every failure shows in one run.
scripts/test-client.sh || status=$?
exit "$status"
