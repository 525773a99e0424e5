#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite:
#   1. release build with -Werror, unit tests (ctest), end-to-end API tests (pytest, with the
#      loopback SMTP and HTTP sinks of tests/servers), crash tests (kill -9 during writes, 50
#      cycles; kill -9 while sending 2000 messages: none lost, none invented)
#   2. ASan+UBSan build: unit tests and the API tests again
#   3. libFuzzer targets (clang), each run briefly (FUZZ_SECONDS, default 20)
# Every stage runs even when an earlier one failed; the last line counts them.
set -u
cd "$(dirname "$0")"
./scripts/install-deps.sh || { echo "install failed"; exit 1; }
PY=/usr/bin/python3
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
CYCLES=${CRASH_CYCLES:-50}
passed=0
failed=0
failures=""
stage() { # name, command...
    name=$1
    shift
    echo "==== $name"
    start=$(date +%s)
    if "$@"; then
        passed=$((passed + 1))
        echo "==== $name: ok ($(($(date +%s) - start)) s)"
    else
        failed=$((failed + 1))
        failures="$failures $name"
        echo "==== $name: FAILED ($(($(date +%s) - start)) s)"
    fi
}
build() { # dir, cmake args...
    dir=$1
    shift
    cmake -S . -B "$dir" -DOMNIHUB_WERROR=ON "$@" >/dev/null && cmake --build "$dir" -j2
}
fuzz_all() {
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DOMNIHUB_FUZZ=ON \
        -DOMNIHUB_SANITIZE=ON >/dev/null || return 1
    ok=0
    for src in tests/fuzz/*.c; do
        t=$(basename "$src" .c)
        cmake --build build-fuzz --target "fuzz_$t" -j2 >/dev/null || { echo "build fuzz_$t failed"; ok=1; continue; }
        corpus=build-fuzz/corpus/$t
        mkdir -p "$corpus"
        seeds=tests/fuzz/seeds/$t
        [ -d "$seeds" ] || seeds=""
        if ! build-fuzz/tests/fuzz_$t -max_total_time="$FUZZ_SECONDS" -max_len=8192 \
            -print_final_stats=0 "$corpus" $seeds >build-fuzz/$t.log 2>&1; then
            echo "fuzz_$t found a failure:"; tail -40 build-fuzz/$t.log; ok=1
        else
            echo "fuzz_$t: $(grep -c . build-fuzz/$t.log) log lines, no failure"
        fi
    done
    return $ok
}

stage build build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
stage unit ctest --test-dir build --output-on-failure -j2
stage api env OMNIHUB_BIN="$PWD/build/omnihub" $PY -m pytest -q -p no:cacheprovider tests/api tests/servers
stage crash $PY tests/crash/crash_test.py --cycles "$CYCLES" --bin build/omnihub
stage send-crash $PY tests/crash/send_crash_test.py --bin build/omnihub
stage asan-build build build-asan -DCMAKE_BUILD_TYPE=Debug -DOMNIHUB_SANITIZE=ON
stage asan-unit ctest --test-dir build-asan --output-on-failure -j2
stage asan-api env OMNIHUB_BIN="$PWD/build-asan/omnihub" \
    LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" $PY -m pytest -q -p no:cacheprovider tests/api
stage fuzz fuzz_all
[ -z "$failures" ] || echo "failed stages:$failures"
echo "stages: $passed passed, $failed failed"
[ "$failed" = 0 ]
