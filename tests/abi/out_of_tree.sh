#!/bin/sh
# The example plugin examples/chat-webhook built out of tree, the way a plugin developer
# builds one: install omnihub into a prefix, configure and build the example against
# <prefix>/include only, load it next to the built-in plugins by configuration, import and
# publish an item with chat content, and render it with `omnihub render`.
#
# usage: out_of_tree.sh SOURCE_DIR BUILD_DIR   (ctest passes both; HUB_TEST_TMP may be set)
# Exits 0 when every step worked, else 1 with one line saying which step failed. The
# scratch directory is kept on failure.
set -u
src=${1:?usage: out_of_tree.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: out_of_tree.sh SOURCE_DIR BUILD_DIR}
tmp=${HUB_TEST_TMP:-/tmp}/abi_out_of_tree.$$

fail() {
    echo "out_of_tree: FAIL: $*" >&2
    exit 1
}

rm -rf "$tmp" && mkdir -p "$tmp" || fail "cannot create $tmp"
[ -x "$build/omnihub" ] || fail "no $build/omnihub (build the tree first)"

# 1. Install: the public header lands in <prefix>/include/omnihub.
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
    fail "cmake --install failed (see $tmp/install.log)"
[ -f "$tmp/prefix/include/omnihub/plugin.h" ] || fail "the install has no include/omnihub/plugin.h"
cmp -s "$tmp/prefix/include/omnihub/plugin.h" "$src/include/omnihub/plugin.h" ||
    fail "the installed plugin.h differs from include/omnihub/plugin.h"

# 2. Build the example against the installed header only.
cmake -S "$src/examples/chat-webhook" -B "$tmp/chat-build" -DOMNIHUB_PREFIX="$tmp/prefix" \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$tmp/chat-configure.log" 2>&1 ||
    fail "configuring examples/chat-webhook failed (see $tmp/chat-configure.log)"
cmake --build "$tmp/chat-build" >"$tmp/chat-build.log" 2>&1 ||
    fail "building examples/chat-webhook failed (see $tmp/chat-build.log)"
so=$tmp/chat-build/chat.so
[ -f "$so" ] || fail "the example build made no chat.so"
cc_json=$tmp/chat-build/compile_commands.json
grep -q -- "-I$tmp/prefix/include" "$cc_json" ||
    fail "chat.c was not compiled with -I$tmp/prefix/include (see $cc_json)"
if grep -q -- "$src/include" "$cc_json"; then
    fail "chat.c was compiled against the source tree's include directory (see $cc_json)"
fi
# One exported symbol: the entry point.
if command -v nm >/dev/null 2>&1; then
    syms=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v -e '^_init$' -e '^_fini$')
    [ "$syms" = omnihub_plugin_entry ] ||
        fail "chat.so exports more than omnihub_plugin_entry: $(echo $syms)"
fi

# 3. A configuration that loads the four built-in plugins and chat.so by path.
data=$tmp/data
conf=$tmp/omnihub.json
cat >"$conf" <<JSON
{
  "plugins": {
    "dir": "$build/plugins",
    "load": ["email", "web", "mobile", "sms"],
    "paths": ["$so"]
  },
  "channels": {"chat": {"driver": "outbox", "username": "Northwind Bank"}}
}
JSON

# 4. Import the locales and one published item with chat content (and an SMS, so that a
#    built-in plugin serves the same item).
cat >"$tmp/chat-item.json" <<'JSON'
{
  "key": "abi/chat-welcome",
  "kind": "message",
  "title": "Welcome, in the team chat",
  "status": "published",
  "variants": [
    {
      "id": "default",
      "content": {
        "en": {
          "chat": {
            "title": "Welcome aboard",
            "text": "Hello {{ first_name | default: 'there' }}, your account is open. {% if first_name %}Nice to meet you!{% endif %}"
          },
          "sms": {"text": "Hi {{ first_name }}, welcome to Northwind."}
        },
        "de": {
          "chat": {"text": "Hallo {{ first_name }}, Ihr Konto ist eröffnet."}
        }
      }
    }
  ]
}
JSON
"$build/omnihub" import --data "$data" --config "$conf" "$src/content-samples/locales.json" \
    "$tmp/chat-item.json" >"$tmp/import.log" 2>&1 || fail "import failed (see $tmp/import.log)"
grep -q "1 items (1 published)" "$tmp/import.log" ||
    fail "the item was not imported and published (see $tmp/import.log)"

# 5. Render for Ada, in English and in German (the title falls back to English).
render() { # locale, output file
    "$build/omnihub" render --data "$data" --config "$conf" --item abi/chat-welcome \
        --channel chat --locale "$1" --attributes '{"first_name":"Ada"}' >"$2" 2>"$2.err" ||
        fail "omnihub render --locale $1 failed: $(tail -n 1 "$2.err")"
}
render en "$tmp/render-en.json"
render de "$tmp/render-de.json"

check() { # file, python expression over j (the parsed output) that must be True, what
    if command -v python3 >/dev/null 2>&1; then
        python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" \
            "$1" || fail "$3 (output: $1)"
    fi
}
en_text='Hello Ada, your account is open. Nice to meet you!'
check "$tmp/render-en.json" "j['channel'] == 'chat' and j['locale'] == 'en'" "wrong channel or locale"
check "$tmp/render-en.json" "j['artifact']['text'] == '$en_text'" "wrong rendered text"
check "$tmp/render-en.json" "j['artifact']['title'] == 'Welcome aboard'" "wrong title"
check "$tmp/render-en.json" \
    "j['artifact']['payload'] == {'text': '*Welcome aboard*\\n$en_text', 'username': 'Northwind Bank'}" \
    "wrong payload"
check "$tmp/render-en.json" "j['warnings'] == []" "unexpected warnings"
check "$tmp/render-de.json" \
    "j['locale'] == 'de' and j['artifact']['payload']['text'] == '*Welcome aboard*\\nHallo Ada, Ihr Konto ist er\\u00f6ffnet.'" \
    "wrong German rendering"
# Without python3 (and as a second look with it): the text is in the output as JSON.
grep -q "\"text\": \"$en_text\"" "$tmp/render-en.json" ||
    fail "the rendered text is not in the output (see $tmp/render-en.json)"

# 6. A built-in plugin renders the same item in the same run of the hub.
"$build/omnihub" render --data "$data" --config "$conf" --item abi/chat-welcome --channel sms \
    --attributes '{"first_name":"Ada"}' >"$tmp/render-sms.json" 2>"$tmp/render-sms.err" ||
    fail "omnihub render --channel sms failed: $(tail -n 1 "$tmp/render-sms.err")"
grep -q '"text": "Hi Ada, welcome to Northwind."' "$tmp/render-sms.json" ||
    fail "the sms rendering is wrong (see $tmp/render-sms.json)"

echo "out_of_tree: ok (chat.so built against $tmp/prefix/include, rendered by omnihub)"
rm -rf "$tmp"
exit 0
