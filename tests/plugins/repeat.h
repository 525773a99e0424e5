/*
 * Long test texts built by repetition, shared by the plugin tests (plugin_fixture.h) and the
 * libc-only plugin tests that do not link the loader (sms_gsm7_test.c): libc only.
 */
#ifndef HUB_TEST_PLUGINS_REPEAT_H
#define HUB_TEST_PLUGINS_REPEAT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n copies of the UTF-8 sequence u, then tail, into buf[cap]; returns buf. Copies stop
 * early (the text is cut) rather than leave no room for the tail. */
static inline const char *repeat_into(char *buf, size_t cap, const char *u, size_t n,
                                      const char *tail)
{
    size_t k = 0, ul = strlen(u), tl = strlen(tail);
    for (size_t i = 0; i < n && k + ul + tl < cap; i++, k += ul)
        memcpy(buf + k, u, ul);
    snprintf(buf + k, cap - k, "%s", tail);
    return buf;
}

/* n copies of s in a new NUL-terminated string (free it), or NULL when out of memory. */
static inline char *repeat_new(const char *s, size_t n)
{
    size_t k = strlen(s);
    char *r = malloc(k * n + 1);
    for (size_t i = 0; r != NULL && i < n; i++)
        memcpy(r + i * k, s, k);
    if (r != NULL)
        r[k * n] = '\0';
    return r;
}

#endif
