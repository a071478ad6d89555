#!/usr/bin/env bash
# Prepare this machine for apibridge: Debian packages (OVN/OVS for the twin, tools for probes and
# graphs), a virtualenv in .venv and an editable install with the dev tools. Idempotent, and fast
# when everything is already there: apt is only touched when a package is missing, pip only when
# pyproject.toml changed since the last install. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(openvswitch-switch ovn-central ovn-host iproute2 ethtool iputils-ping curl graphviz python3-venv debootstrap umoci nftables)
COMMANDS=(ovs-vsctl ovsdb-server ovn-nbctl ovn-northd ovn-controller ip ethtool ping curl dot debootstrap umoci nft)
VENV=.venv
STAMP="$VENV/.apibridge-install-stamp"

say() { printf 'setup: %s\n' "$*" >&2; }

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
for cmd in "${COMMANDS[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing+=("(command $cmd)")
  fi
done
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing: ${missing[*]} - and no apt-get here; install the equivalents of: ${PACKAGES[*]}"
    exit 1
  fi
  if [[ $(id -u) -ne 0 ]]; then
    say "missing: ${missing[*]} - run as root to install them"
    exit 1
  fi
  say "installing system packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${PACKAGES[@]}"
fi

if [[ ! -x $VENV/bin/python ]]; then
  PYTHON=${PYTHON:-python3}
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "$PYTHON is $("$PYTHON" --version 2>&1); apibridge needs Python >= 3.11"
    exit 1
  fi
  say "creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
  rm -f "$STAMP"
fi

want=$(sha256sum pyproject.toml | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [[ $want != "$have" || ! -x $VENV/bin/apibridge ]]; then
  say "installing apibridge and its dev tools into $VENV (pip install -e '.[dev]')"
  # Some machines' pip configuration names local index folders that do not exist; pip warns once per
  # package about each. Those lines say nothing about this project, so they are left out (pip's exit
  # status, and every other message, still come through).
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]' \
    2> >(grep -v "^WARNING: Location 'file://.*' is ignored: it is neither a file nor a directory\.$" >&2)
  printf '%s\n' "$want" >"$STAMP"
fi
