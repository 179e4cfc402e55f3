# shellcheck shell=bash
# common.sh: shell functions shared by deploy/quickstart and tests/run.
# Sourced, not run.  Expects `set -euo pipefail` in the caller.

# Debian 12 packages needed to build, run and test minyi.
MINYI_PACKAGES=(
    build-essential cmake pkg-config
    libevent-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev
    postgresql postgresql-contrib
    libjansson-dev libinih-dev libutf8proc-dev libcmocka-dev
    # the office's figures as Excel workbooks (minyi stats --xlsx), which
    # the tests read back with python3's zipfile and xml.
    libxlsxwriter-dev python3
    # 专报 issues: it_issue renders the printable HTML with headless
    # Chromium, in the Chinese fonts the page names.
    chromium fonts-noto-cjk
    openssl sslscan prometheus
    # deploy/cluster and its failover test (tests/cluster/failover).
    patroni etcd-server haproxy jq
    libsystemd-dev systemd dpkg-dev groff-base man-db
    # 码上商: posters (QR code, PNG, the Chinese text drawn with a CJK font),
    # their test reading the code back, and the photo test's real pictures.
    libqrencode-dev libpng-dev libfreetype-dev libfontconfig-dev fonts-noto-cjk
    libjpeg-dev zbar-tools
    # the web console's browser tests: Debian's chromium driven by
    # playwright-core (pinned in tests/browser/package-lock.json; it needs
    # Node.js 20 or later and npm, which tests/run checks).
    chromium nodejs
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

# pg_outside_dir PREFIX KEY: prints (and makes, owned by the PostgreSQL user)
# a directory in that user's home named after PREFIX and a hash of KEY, for
# data that user must reach when ours lies under a directory it cannot enter
# (a clone under /root, say).  Fails when the user has no home directory.
pg_outside_dir() {
    local pg_home dir
    pg_home=$(getent passwd "$MINYI_PG_USER" | cut -d: -f6)
    [[ -n $pg_home && -d $pg_home ]] || return 1
    dir=$pg_home/$1-$(printf '%s' "$2" | sha256sum | cut -c1-12)
    mkdir -p "$dir"
    give_to_pg "$dir"
    echo "$dir"
}

# minyid_conf FILE PORT REGION NAME CONNINFO CERT CA_DIR WRITER: writes the
# gateway options every set-up script shares (listen on 127.0.0.1:PORT, the
# certificate CA_DIR/CERT.crt, the client CA and CRL of CA_DIR, the
# database, pii.key beside FILE).  File names are relative to the config's
# directory; ROOT must name the top of the clone.  WRITER names the script
# in the header.
minyid_conf() {
    local file=$1 port=$2 region=$3 name=$4 conninfo=$5 cert=$6 ca
    ca=$(realpath --relative-to="$(dirname "$file")" "$7")
    cat >"$file" <<EOF
; Written by deploy/$8 on every run; changes here are overwritten.
; deploy/minyid.conf.example documents every option.
[gateway]
listen = 127.0.0.1
port = $port
body_region = $region
body_name = $name

[tls]
cert = $ca/$cert.crt
key = $ca/$cert.key
client_ca = $ca/ca.crt
crl = $ca/crl.pem

[database]
conninfo = $conninfo
migrations_dir = $ROOT/storage/migrations

[privacy]
key_file = pii.key
key_version = 1

[log]
level = info
EOF
}

# register_principal MINYID CONF CERT KIND NAME REGION: adds the principal to
# CONF's database unless its certificate's fingerprint is registered
# already, and says so.
register_principal() {
    local minyid=$1 conf=$2 cert=$3 kind=$4 name=$5 region=$6 fp id
    fp=$("$ROOT/deploy/certs" fingerprint "$cert")
    if "$minyid" -c "$conf" principal list | grep -qi -- "$fp"; then
        return 0
    fi
    id=$("$minyid" -c "$conf" principal add --cert "$cert" --kind "$kind" --name "$name" --region "$region")
    say "registered $kind '$name' as principal $id of $(sed -n 's/^body_name = //p' "$conf")"
}

# client_profile FILE PORT CA_DIR WHO WRITER: the demo client profile of
# WHO (certificate CA_DIR/WHO.crt) for a gateway on 127.0.0.1:PORT.
client_profile() {
    local file=$1 port=$2 ca
    ca=$(realpath --relative-to="$(dirname "$file")" "$3")
    cat >"$file" <<EOF
; Written by deploy/$5: the demo $4's client profile.
[client]
host = 127.0.0.1
port = $port
ca = $ca/ca.crt
cert = $ca/$4.crt
key = $ca/$4.key
server_name = localhost
timeout_ms = 10000
EOF
}

# configure_and_build SRC BUILD [cmake options...]
configure_and_build() {
    local src=$1 build=$2
    shift 2
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$build" -j "${MINYI_JOBS:-2}"
}
