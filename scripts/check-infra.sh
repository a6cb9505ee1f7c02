#!/usr/bin/env bash
# Compiles infra/main.bicep and infra/main.bicepparam with the Bicep CLI restored from NuGet
# (package Azure.Bicep.CommandLine.linux-x64; no other download). `bicep build` exits 0 even when the linter
# warns, so any line with "Warning" or "Error" fails this check.
#   scripts/check-infra.sh
# Override the CLI version with BICEP_VERSION, the cache folder with NEXUS_TOOLS_DIR.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${BICEP_VERSION:-0.49.2}"
# Outside the repository, so the repository's Directory.*.props (central package versions) don't apply.
tools="${NEXUS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nexus-archive}/bicep-$version"
bicep="$tools/packages/azure.bicep.commandline.linux-x64/$version/tools/bicep"

if [ ! -x "$bicep" ]; then
  mkdir -p "$tools"
  cat > "$tools/bicep-cli.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$version]" />
  </ItemGroup>
</Project>
PROJ
  dotnet restore "$tools/bicep-cli.csproj" --packages "$tools/packages" --nologo -v quiet
  chmod +x "$bicep"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
for target in "build infra/main.bicep" "build-params infra/main.bicepparam"; do
  # shellcheck disable=SC2086 # the command and its file are two words on purpose
  set -- $target
  log="$out/$1.log"
  (cd "$repo" && "$bicep" "$1" "$2" --outdir "$out") >"$log" 2>&1 || status=1
  cat "$log"
  if grep -Eq '(Warning|Error)' "$log"; then
    status=1
  fi
done

if [ "$status" -ne 0 ]; then
  echo "check-infra: FAILED (bicep $version reported warnings or errors above)" >&2
  exit 1
fi
echo "check-infra: infra/main.bicep and infra/main.bicepparam compile clean (bicep $version)"
