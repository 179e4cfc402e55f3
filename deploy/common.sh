# shellcheck shell=bash
# common.sh: shell functions shared by deploy/quickstart and tests/run.
# Sourced, not run.  Expects `set -euo pipefail` in the caller.

# Debian 12 packages needed to build, run and test minyi.
MINYI_PACKAGES=(
    build-essential cmake pkg-config
    libevent-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev
    postgresql postgresql-contrib
    libjansson-dev libinih-dev libutf8proc-dev libcmocka-dev
    openssl sslscan prometheus
)

# The user that runs PostgreSQL when we are root (PostgreSQL refuses root).
MINYI_PG_USER=postgres

say() {
    printf '%s: %s\n' "${MINYI_SCRIPT:-minyi}" "$*" >&2
}

die() {
    say "$*"
    exit 1
}

# Installs the packages of MINYI_PACKAGES that are not installed yet, and
# does nothing at all (no apt-get update either) when every one is there.
install_missing() {
    local missing=() p
    for p in "${MINYI_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "installing ${missing[*]}"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

# The directory holding initdb and pg_ctl: MINYI_PG_BINDIR, else the newest
# /usr/lib/postgresql/N/bin (Debian's layout), else wherever PATH finds them.
pg_bindir() {
    if [[ -n ${MINYI_PG_BINDIR:-} ]]; then
        echo "$MINYI_PG_BINDIR"
        return
    fi
    local d
    d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    if [[ -n $d && -x $d/initdb ]]; then
        echo "$d"
    else
        dirname "$(command -v initdb || echo /usr/bin/initdb)"
    fi
}

# Runs a command as the PostgreSQL user when we are root, else as ourselves.
# Paths given must be absolute: the command runs in /, because the current
# directory may be one the PostgreSQL user cannot enter.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u "$MINYI_PG_USER" -- "$@")
    else
        "$@"
    fi
}

# Gives a path to the PostgreSQL user when we are root.
give_to_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        chown "$MINYI_PG_USER:" "$@"
    fi
}

# configure_and_build SRC BUILD [cmake options...]
configure_and_build() {
    local src=$1 build=$2
    shift 2
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$build" -j "${MINYI_JOBS:-2}"
}
