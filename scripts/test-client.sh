#!/usr/bin/env bash
# The TypeScript client (clients/typescript, @nexuschat/archive-writer): npm ci from the committed lock file, tsc, then
# node's own test runner against real redis-server and PostgreSQL it starts itself. The end-to-end test runs the CLI
# built by `dotnet build`/`dotnet test` (Cli/bin/Release/net10.0/nexus-archive.dll; NEXUS_CLI_DLL overrides it).
# Prints "Node tests: N passed, N failed" and exits non-zero when one failed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo/clients/typescript"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are missing: run scripts/install-prereqs.sh" >&2
  exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
  echo "Node.js $(node --version) is too old: the client and its tests need Node.js 18 or later" >&2
  exit 1
fi

echo "== TypeScript client: npm ci, tsc, node --test (Node.js $(node --version))"
npm ci --no-audit --no-fund --loglevel=error
rm -rf dist build   # no stale output of a removed source or test
npm run --silent build
npm run --silent build:test

tap="$(mktemp)"
trap 'rm -f "$tap"' EXIT
status=0
node --test --test-reporter=spec --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$tap" \
  build/test/*.test.js || status=$?
passed="$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -n 1)"
failed="$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -n 1)"
echo "Node tests (clients/typescript): ${passed:-0} passed, ${failed:-?} failed"
if [ "$status" -eq 0 ] && [ "${failed:-1}" != "0" ]; then
  status=1
fi
exit "$status"
