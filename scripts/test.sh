#!/usr/bin/env bash
# Runs every test: unit tests, and integration/end-to-end tests against real redis-server and PostgreSQL
# processes that the test fixture starts from their binaries on free loopback ports (installed here if missing).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

scripts/install-prereqs.sh
dotnet test NexusArchive.Functions.sln -c Release --nologo "$@"
