#!/usr/bin/env bash
# Installs what sunsync needs on Debian 12 (apt-get, as root), then builds and
# installs the extension.  Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap postgresql-15-cron
          libssl-dev libipc-run-perl libgtest-dev cmake g++ make clang-14 llvm-14 libfuzzer-14-dev)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: missing packages (${missing[*]}); run as root to install them" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
make -s -j2 PG_CONFIG=$PG_CONFIG
make -s install PG_CONFIG=$PG_CONFIG
