#!/usr/bin/env bash
# Installs what NexusArchive's local runs and tests need on Debian/Ubuntu: redis-server, PostgreSQL (15+),
# pgbouncer (the transaction-pooler stand-in for Supabase's Supavisor), openssl (test TLS certificates) and Node.js + npm
# (the TypeScript client's tests; Debian's nodejs, 18 on bookworm, is enough).
# Idempotent: does nothing when everything is present. Needs root or sudo when something is missing.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing: ${need[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "Missing packages (${need[*]}) and no root or sudo to install them: apt-get install ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Debian's packages try to start their own services; we run our own instances on loopback instead.
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
