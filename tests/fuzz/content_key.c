/*
 * libFuzzer target for item keys: arbitrary bytes go to hub_item_key_check, compared with a
 * second, independently written reading of the grammar in content.h. Invariants: both agree;
 * a refusal carries HUB_EINVAL and a one-line reason; an accepted key stays accepted with a
 * plain segment appended (when it fits) and is refused with a route word appended.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "content/content.h"

static int allowed(unsigned char c)
{
    return memchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/", c, 66) !=
               NULL &&
           c != '\0';
}

static int reserved(const char *s, size_t n)
{
    static const char *const words[] = {".",         "..",       "versions", "publish",
                                        "unpublish", "rollback", "schedule"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0)
            return 1;
    }
    return 0;
}

/* The grammar read as: a non-empty run of allowed bytes, no empty segment anywhere (so no
 * leading, trailing or doubled slash), no reserved segment. */
static int oracle(const char *k, size_t n)
{
    if (n < 1 || n > HUB_ITEM_KEY_MAX || k[0] == '/' || k[n - 1] == '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!allowed((unsigned char)k[i]) || (i > 0 && k[i] == '/' && k[i - 1] == '/'))
            return 0;
    }
    const char *seg = k;
    const char *end = k + n;
    while (seg < end) {
        const char *slash = memchr(seg, '/', (size_t)(end - seg));
        const char *stop = slash ? slash : end;
        if (reserved(seg, (size_t)(stop - seg)))
            return 0;
        seg = stop + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *k = (const char *)data;
    hub_error err;
    hub_error_init(&err);
    int rc = hub_item_key_check(k, size, &err);
    assert(rc == 0 || rc == HUB_EINVAL);
    assert((rc == 0) == oracle(k, size));
    if (rc != 0) {
        assert(err.code == HUB_EINVAL && err.message[0] != '\0');
        assert(strchr(err.message, '\n') == NULL);
        return 0;
    }
    char longer[HUB_ITEM_KEY_MAX + 16];
    memcpy(longer, k, size);
    memcpy(longer + size, "/x", 2);
    assert(hub_item_key_check(longer, size + 2, NULL) ==
           (size + 2 <= HUB_ITEM_KEY_MAX ? 0 : HUB_EINVAL));
    memcpy(longer + size, "/rollback", 9);
    assert(hub_item_key_check(longer, size + 9, NULL) == HUB_EINVAL);
    return 0;
}
