#!/usr/bin/env bash
# Install whatever is missing on a Debian/Ubuntu machine: PostgreSQL + PostGIS, the Python
# virtual environment and packages (pinned by constraints.txt); with --dev also what the tests
# and benchmarks drive (Chromium, CJK fonts for screenshots, wrk). Safe to run again: each step
# checks first and does nothing when its part is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=false
[ "${1:-}" = "--dev" ] && dev=true

source scripts/apt.sh
missing() { ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
  echo "installing PostgreSQL + PostGIS (system packages)…"
  # the platform runs its own cluster: do not let the package create and start a system one
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    $sudo mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  apt_install postgresql
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  apt_install "postgresql-${version}-postgis-3"
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "cityops needs Python 3.11 or newer; found $(python3 --version)" >&2; exit 1; }
if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  apt_install python3-venv
fi

# printed reports (WeasyPrint: sitreps, after-action PDFs) need Pango and a font that has Chinese;
# sensors publish to the platform's own MQTT broker (Mosquitto, started like the database); several
# API processes share their rate-limit counters in the platform's own Redis, and many of them share
# server connections through the platform's own PgBouncer (both started the same way)
packages=()
for package in libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk mosquitto redis-server pgbouncer; do
  if missing "$package"; then packages+=("$package"); fi
done
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing what printed reports, sensors and many API processes need: ${packages[*]}…"
  apt_install "${packages[@]}"
  # the platform runs its own broker, counters and pooler: not the packages' system-wide ones (as with PostgreSQL)
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now mosquitto redis-server pgbouncer >/dev/null 2>&1 || true
  fi
fi

if [ "$dev" = true ]; then
  packages=()
  for package in chromium chromium-driver fonts-noto-cjk wrk; do
    if missing "$package"; then packages+=("$package"); fi
  done
  if [ ${#packages[@]} -gt 0 ]; then
    echo "installing test tools: ${packages[*]}…"
    apt_install "${packages[@]}"
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extras="[bench]"
[ "$dev" = true ] && extras="[dev]"
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)-${extras//[^a-z]/}"
if [ ! -e "$stamp" ]; then
  echo "installing Python packages into .venv…"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".${extras}"
  touch "$stamp"
fi
