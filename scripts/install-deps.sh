#!/usr/bin/env bash
# Installs the system packages Wayfare's tests need, on a fresh Debian machine.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  pkg-config          # native builds (libdbus vendored by the core's BLE feature)
  postgresql          # the PostgreSQL 15 server the SQL tests also run against
  iproute2            # `ip` for network-namespace tests
  python3-venv        # the Python binding tests' virtualenv
  libpcsclite-dev     # the terminal's PC/SC reader (feature `nfc`) links libpcsclite
  pcscd               # the PC/SC daemon the NFC tests run against
  vsmartcard-vpcd     # its virtual reader: the phone's card handler is the card
  g++                 # libFuzzer, built by libfuzzer-sys for scripts/fuzz.sh
)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "== installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi
