#!/bin/sh
# Installs the Debian packages omnihub needs to build, run and test. Idempotent: it only
# calls apt-get when a package is missing. Each package and why:
#   build-essential cmake pkg-config  the C toolchain and build system
#   libh2o-evloop-dev                 HTTP/1.1 server (evloop flavour, no libuv)
#   liblmdb-dev lmdb-utils            the store; mdb_stat/mdb_dump for inspecting it
#   libjansson-dev                    JSON for API bodies and stored documents
#   libxml2-dev                       XLIFF, HTML to text, HTML sanitizer (core/xml)
#   libssl-dev                        h2o headers include openssl; SHA-256 and RAND_bytes
#   libcurl4-openssl-dev              SMTP and HTTP delivery drivers (core/delivery)
#   zlib1g-dev                        pulled by h2o headers
#   clang libclang-rt-14-dev          libFuzzer targets and sanitizer runtime
#   python3 python3-pytest python3-requests   end-to-end API and crash tests
#   python3-aiosmtpd                  the SMTP server the delivery tests send to (loopback)
#   translate-toolkit                 XLIFF interoperability tests (xliff2po, po2xliff and its xliff reader)
#   curl                              the README's examples
#   wrk h2o                           benchmarks only (tests/bench), installed with --bench
set -eu
PKGS="build-essential cmake pkg-config libh2o-evloop-dev liblmdb-dev lmdb-utils libjansson-dev
libxml2-dev libssl-dev libcurl4-openssl-dev zlib1g-dev clang libclang-rt-14-dev python3
python3-pytest python3-requests python3-aiosmtpd translate-toolkit curl"
if [ "${1:-}" = "--bench" ]; then PKGS="$PKGS wrk h2o"; fi
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
