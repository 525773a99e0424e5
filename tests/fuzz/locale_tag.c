/*
 * libFuzzer target for BCP 47 tags: arbitrary bytes go to hub_locale_canonicalize and
 * hub_locale_truncate. Invariants: a canonical tag keeps the input's length and bytes up to
 * case, re-canonicalizes to itself, and every truncation step shortens it and leaves a
 * canonical tag; truncation of arbitrary text never grows it.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "locale/locale.h"

static void check_truncation_chain(const char *canonical)
{
    char t[HUB_LOCALE_TAG_MAX], again[HUB_LOCALE_TAG_MAX];
    memcpy(t, canonical, strlen(canonical) + 1);
    for (int steps = 0; steps < HUB_LOCALE_TAG_MAX; steps++) {
        size_t before = strlen(t);
        if (hub_locale_truncate(t) != 0) {
            assert(strlen(t) == before);
            return;
        }
        assert(strlen(t) < before && strlen(t) > 0);
        assert(hub_locale_canonicalize(t, strlen(t), again, NULL) == 0);
        assert(strcmp(again, t) == 0);
    }
    assert(!"truncation did not terminate");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[HUB_LOCALE_TAG_MAX], again[HUB_LOCALE_TAG_MAX];
    hub_error err;
    hub_error_init(&err);
    if (hub_locale_canonicalize((const char *)data, size, out, &err) == 0) {
        assert(strlen(out) == size);
        assert(strncasecmp(out, (const char *)data, size) == 0);
        assert(hub_locale_canonicalize(out, strlen(out), again, NULL) == 0);
        assert(strcmp(again, out) == 0);
        check_truncation_chain(out);
    } else {
        assert(err.code == HUB_EINVAL && err.message[0] != '\0');
        assert(strchr(err.message, '\n') == NULL);
    }
    hub_error_clear(&err);

    /* Truncation of whatever text: never longer, and shorter when it reports success. */
    char raw[HUB_LOCALE_TAG_MAX];
    size_t n = size < sizeof(raw) - 1 ? size : sizeof(raw) - 1;
    memcpy(raw, data, n);
    raw[n] = '\0';
    size_t before = strlen(raw);
    if (hub_locale_truncate(raw) == 0)
        assert(strlen(raw) < before);
    else
        assert(strlen(raw) == before);
    return 0;
}
