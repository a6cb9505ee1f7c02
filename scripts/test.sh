#!/usr/bin/env bash
# Runs every test: unit, integration, end-to-end and fault-injection tests against real redis-server and PostgreSQL
# processes that the test fixture starts from their binaries on free loopback ports (installed here if missing), the
# Azurite for the queue tests, the benchmark's smoke run, and the offline Bicep compile of infra/ (fails on any warning).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

scripts/install-prereqs.sh
# Azurite (npm) for the queue tests; the fixture finds it in .local/tools/ (NEXUS_AZURITE_DIR overrides).
NEXUS_AZURITE_DIR="$(scripts/install-azurite.sh)"
export NEXUS_AZURITE_DIR
scripts/check-infra.sh
dotnet test NexusArchive.Functions.sln -c Release --nologo "$@"
