/*
 * The built-in channel field schemas: names, required flags and limits as the channels
 * accept them, and lookup by name.
 */
#include "content/content.h"
#include "test.h"

typedef struct want_field {
    const char *channel;
    const char *field;
    int required;
    size_t max_bytes;
    int is_object;
} want_field;

static const want_field want[] = {
    {"email", "subject", 1, 998, 0},     {"email", "preheader", 0, 500, 0},
    {"email", "html", 1, 1048576, 0},    {"email", "text", 0, 1048576, 0},
    {"email", "from_name", 0, 200, 0},   {"email", "reply_to", 0, 320, 0},
    {"sms", "text", 1, 10000, 0},        {"mobile", "title", 1, 500, 0},
    {"mobile", "body", 1, 4000, 0},      {"mobile", "image", 0, 2048, 0},
    {"mobile", "deep_link", 0, 2048, 0}, {"mobile", "data", 0, 4096, 1},
    {"web", "title", 1, 500, 0},         {"web", "html", 1, 1048576, 0},
    {"web", "summary", 0, 2000, 0},      {"web", "image", 0, 2048, 0},
    {"web", "url", 0, 2048, 0},
};

static void test_builtin_fields(void)
{
    const hub_schema_set *set = hub_content_builtin_schemas();
    REQUIRE(set != NULL && set->nchannels == 4);
    CHECK(set == hub_content_builtin_schemas());
    size_t total = 0;
    for (size_t c = 0; c < set->nchannels; c++)
        total += set->channels[c].nfields;
    CHECK(total == sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const hub_channel_schema *cs = hub_schema_find(set, want[i].channel);
        REQUIRE(cs != NULL);
        const hub_field_schema *fs = NULL;
        for (size_t f = 0; f < cs->nfields; f++) {
            if (strcmp(cs->fields[f].name, want[i].field) == 0) {
                CHECK(fs == NULL); /* no field twice */
                fs = &cs->fields[f];
            }
        }
        if (fs == NULL) {
            fprintf(stderr, "  missing %s.%s\n", want[i].channel, want[i].field);
            CHECK(fs != NULL);
            continue;
        }
        CHECK(fs->required == want[i].required);
        CHECK(fs->max_bytes == want[i].max_bytes);
        CHECK(fs->is_object == want[i].is_object);
    }
}

static void test_find(void)
{
    const hub_schema_set *set = hub_content_builtin_schemas();
    static const char *const names[] = {"email", "sms", "mobile", "web"};
    for (size_t i = 0; i < 4; i++) {
        const hub_channel_schema *cs = hub_schema_find(set, names[i]);
        CHECK(cs != NULL && strcmp(cs->name, names[i]) == 0);
        CHECK(cs == &set->channels[i]);
    }
    CHECK(hub_schema_find(set, "Email") == NULL);
    CHECK(hub_schema_find(set, "fax") == NULL);
    CHECK(hub_schema_find(set, "") == NULL);
    CHECK(hub_schema_find(set, NULL) == NULL);
    CHECK(hub_schema_find(NULL, "email") == NULL);
    /* A caller's own set works the same way. */
    static const hub_field_schema f[] = {{"body", 1, 10, 0}};
    static const hub_channel_schema ch[] = {{"fax", f, 1}};
    static const hub_schema_set mine = {ch, 1};
    CHECK(hub_schema_find(&mine, "fax") == &ch[0]);
    CHECK(hub_schema_find(&mine, "email") == NULL);
}

int main(void)
{
    RUN(test_builtin_fields);
    RUN(test_find);
    return TEST_SUMMARY();
}
