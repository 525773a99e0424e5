#!/bin/sh
# Layout rules of DESIGN.md that the compiler cannot see: each third-party header lives in
# one module, unsafe libc functions are banned, plugins include only include/omnihub and
# jansson.
set -u
root=${1:-.}
fail=0
only_in() { # header, allowed directory
    hits=$(grep -rln --include='*.c' --include='*.h' "#include <$1" "$root/core" "$root/plugins" 2>/dev/null |
           grep -v "^$root/$2/" || true)
    if [ -n "$hits" ]; then echo "<$1> outside $2: $hits"; fail=1; fi
}
only_in lmdb.h core/store
only_in h2o core/http
only_in dlfcn.h core/plugin
only_in libxml/ core/xml
only_in curl/ core/delivery
banned=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol)\(' \
         --include='*.c' --include='*.h' "$root/core" "$root/plugins" 2>/dev/null || true)
if [ -n "$banned" ]; then echo "banned functions: $banned"; fail=1; fi
if [ $fail = 0 ]; then echo "layout ok"; fi
exit $fail
