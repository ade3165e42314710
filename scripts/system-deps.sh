#!/usr/bin/env bash
# Installs the system programs the tests drive, when missing: `make test` runs this before pytest.
# Headless Chromium (the report's and the ledger status page's screenshot tests), PostgreSQL's server binaries
# (the ledger tests start a throwaway cluster with initdb/pg_ctl) and Fashion-MNIST's IDX files (the vision track's
# second dataset, on which its shipped defaults are checked; no hub serves it offline). With apt-get usable (root,
# or sudo without a password), the missing Debian packages are installed; otherwise it stops with one line naming them.
set -euo pipefail

# command -> Debian package that provides it
declare -A NEED=([chromium]=chromium)
missing=()
for cmd in "${!NEED[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# Debian keeps PostgreSQL's server binaries off PATH, under /usr/lib/postgresql/VERSION/bin.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
# Data, not a command: Debian's dataset-fashion-mnist puts the four gzipped IDX files here (vision/data.py reads them).
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "make test: missing system packages: ${missing[*]}; install them (Debian: apt-get install -y ${missing[*]}) and rerun" >&2
    exit 1
fi
echo "make test: installing ${missing[*]} (apt-get)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
