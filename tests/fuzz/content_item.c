/*
 * libFuzzer target for item documents: arbitrary bytes are parsed as JSON and checked by
 * hub_item_validate_form with the built-in schemas, then resolved channel by channel; the
 * two halves of the input are also merge-patched (RFC 7396).
 * Invariants: the result code agrees with the problem list; every problem has a one-line
 * UTF-8 message and a pointer that reaches into the document (all of it, or all but a
 * missing last member); validation and resolution leave the document untouched; merge patch
 * leaves its inputs untouched, is idempotent, and a non-object patch replaces the target.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "content/content.h"

/* Decodes the next reference token of pointer p (after its '/') into tok; returns the rest. */
static const char *next_token(const char *p, char *tok, size_t cap, size_t *len)
{
    size_t n = 0;
    for (; *p != '\0' && *p != '/'; p++) {
        char ch = *p;
        if (ch == '~') {
            p++;
            assert(*p == '0' || *p == '1'); /* only ~0 and ~1 are escapes */
            ch = *p == '0' ? '~' : '/';
        }
        assert(n + 1 < cap);
        tok[n++] = ch;
    }
    tok[n] = '\0';
    *len = n;
    return p;
}

/* The pointer names the document, a node in it, or a missing member of an object in it. */
static void check_pointer(json_t *doc, const char *ptr)
{
    size_t cap = strlen(ptr) + 1, len;
    char *tok = malloc(cap);
    json_t *node = doc;
    assert(tok != NULL);
    assert(ptr[0] == '\0' || ptr[0] == '/');
    while (*ptr == '/') {
        assert(node != NULL); /* only the last token may be missing */
        ptr = next_token(ptr + 1, tok, cap, &len);
        if (json_is_array(node)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            assert(len > 0 && *end == '\0' && i < json_array_size(node));
            node = json_array_get(node, i);
        } else {
            assert(json_is_object(node));
            node = json_object_get(node, tok);
        }
    }
    free(tok);
}

static void check_form(json_t *item)
{
    hub_problems p;
    hub_problems_init(&p);
    char *before = json_dumps(item, JSON_ENCODE_ANY | JSON_SORT_KEYS);
    int rc = hub_item_validate_form(item, "fuzz/item", hub_content_builtin_schemas(), &p);
    assert(rc == 0 || rc == HUB_EINVAL);
    assert((rc == HUB_EINVAL) == (p.count + p.dropped > 0));
    assert(p.count <= HUB_PROBLEMS_MAX);
    for (size_t i = 0; i < p.count; i++) {
        const char *m = p.items[i].message;
        assert(m[0] != '\0' && strchr(m, '\n') == NULL && hub_utf8_valid(m, strlen(m)));
        check_pointer(item, p.items[i].path);
    }
    hub_problems_clear(&p);

    /* Resolution never needs a valid item: try every variant against a fixed chain plus the
     * base variant's first locale. */
    hub_locale_chain chain;
    memset(&chain, 0, sizeof(chain));
    const char *first = json_object_iter_key(json_object_iter(
        json_object_get(json_array_get(json_object_get(item, "variants"), 0), "content")));
    if (first != NULL && strlen(first) < HUB_LOCALE_TAG_MAX)
        memcpy(chain.tags[chain.count++], first, strlen(first) + 1);
    memcpy(chain.tags[chain.count++], "de", 3);
    memcpy(chain.tags[chain.count++], "en", 3);
    const hub_schema_set *set = hub_content_builtin_schemas();
    size_t nv = json_array_size(json_object_get(item, "variants"));
    for (size_t v = 0; v <= nv && v < 8; v++) {
        for (size_t c = 0; c < set->nchannels; c++) {
            json_t *from = NULL;
            json_t *f =
                hub_item_resolve_channel(item, v, &chain, set->channels[c].name, set, &from);
            assert((f == NULL) == (from == NULL));
            assert(f == NULL || json_object_size(f) == json_object_size(from));
            json_decref(f);
            json_decref(from);
        }
    }
    char *after = json_dumps(item, JSON_ENCODE_ANY | JSON_SORT_KEYS);
    assert(before != NULL && after != NULL && strcmp(before, after) == 0);
    free(before);
    free(after);
}

static void check_merge(const uint8_t *data, size_t size)
{
    size_t half = size / 2;
    json_t *t = json_loadb((const char *)data, half, JSON_DECODE_ANY, NULL);
    json_t *p = json_loadb((const char *)data + half, size - half, JSON_DECODE_ANY, NULL);
    if (t != NULL && p != NULL) {
        char *t0 = json_dumps(t, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        char *p0 = json_dumps(p, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        json_t *r = hub_json_merge_patch(t, p);
        assert(r != NULL);
        if (!json_is_object(p))
            assert(json_equal(r, p));
        json_t *r2 = hub_json_merge_patch(r, p);
        assert(r2 != NULL && json_equal(r, r2));
        char *t1 = json_dumps(t, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        char *p1 = json_dumps(p, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        assert(strcmp(t0, t1) == 0 && strcmp(p0, p1) == 0);
        free(t0), free(p0), free(t1), free(p1);
        json_decref(r);
        json_decref(r2);
    }
    json_decref(t);
    json_decref(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *item = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (item != NULL) {
        check_form(item);
        json_decref(item);
    }
    check_merge(data, size);
    return 0;
}
