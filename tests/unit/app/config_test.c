/*
 * Configuration file: the API.md example parses into the right settings, every added key
 * works, and each unknown key or wrong type gives exactly one line naming it.
 */
#include "app/app.h"
#include "test.h"

static const char example[] =
    "{\"listen\": \"127.0.0.1:8080\", \"threads\": 2, \"max_body_bytes\": 1048576,"
    " \"max_connections\": 1024,"
    " \"plugins\": {\"dir\": \"build/plugins\", \"load\": [\"email\", \"web\", \"mobile\", "
    "\"sms\"]},"
    " \"channels\": {"
    "   \"email\":  {\"driver\": \"smtp\", \"smtp\": {\"url\": \"smtp://127.0.0.1:2525\","
    "              \"from\": \"Bank <news@bank.example>\", \"username\": null, \"password\": null,"
    "              \"starttls\": false}},"
    "   \"sms\":    {\"driver\": \"http\", \"http\": {\"url\": \"http://127.0.0.1:9000/sms\","
    "              \"headers\": {}, \"body\": \"{\\\"to\\\":\\\"{{ recipient.phone }}\\\"}\"},"
    "              \"max_segments\": 4},"
    "   \"mobile\": {\"driver\": \"outbox\"},"
    "   \"web\":    {\"driver\": \"inbox\"}},"
    " \"delivery\": {\"workers\": 4, \"retry\": {\"base_ms\": 30000, \"max_ms\": 900000,"
    "              \"give_up_after_s\": 86400}},"
    " \"outbox\": {\"dir\": \"DATA/outbox\"}}";

static void test_example(void)
{
    hub_config cfg;
    hub_error err;
    hub_config_defaults(&cfg);
    hub_error_init(&err);
    int rc = hub_config_parse(&cfg, example, sizeof(example) - 1, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.message);
    REQUIRE(rc == 0);
    CHECK_STR(cfg.http.host, "127.0.0.1");
    CHECK(cfg.http.port == 8080);
    CHECK(cfg.http.threads == 2);
    CHECK(cfg.http.max_body_bytes == 1048576);
    CHECK(cfg.http.max_connections == 1024);
    CHECK(cfg.map_size == 0);
    CHECK(cfg.log_level == HUB_LOG_INFO);
    CHECK(json_is_object(cfg.raw));
    CHECK_STR(json_string_value(json_object_get(cfg.outbox, "dir")), "DATA/outbox");
    CHECK(json_integer_value(json_object_get(cfg.delivery, "workers")) == 4);
    CHECK_STR(json_string_value(json_object_get(json_object_get(cfg.channels, "web"), "driver")),
              "inbox");
    CHECK(json_array_size(json_object_get(cfg.plugins, "load")) == 4);
    hub_config_free(&cfg);
    CHECK(cfg.raw == NULL);
    hub_error_clear(&err);
}

static void test_added_keys_and_defaults(void)
{
    hub_config cfg;
    hub_error err;
    const char *text = "{\"request_timeout_ms\": 2500, \"store\": {\"map_size_mb\": 64},"
                       " \"log_level\": \"warn\", \"listen\": \"[::1]:0\"}";
    hub_config_defaults(&cfg);
    unsigned dflt_conns = cfg.http.max_connections;
    size_t dflt_body = cfg.http.max_body_bytes;
    hub_error_init(&err);
    REQUIRE(hub_config_parse(&cfg, text, strlen(text), &err) == 0);
    CHECK(cfg.http.request_timeout_ms == 2500);
    CHECK(cfg.map_size == 64ull * 1024 * 1024);
    CHECK(cfg.log_level == HUB_LOG_WARN);
    CHECK_STR(cfg.http.host, "::1");
    CHECK(cfg.http.port == 0);
    CHECK(cfg.http.max_connections == dflt_conns); /* untouched keys keep the defaults */
    CHECK(cfg.http.max_body_bytes == dflt_body);
    hub_config_free(&cfg);
    hub_error_clear(&err);
}

typedef struct bad_case {
    const char *text;
    const char *message;
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"threads\": 0}", "config: /threads must be an integer 1..256"},
    {"{\"threads\": 257}", "config: /threads must be an integer 1..256"},
    {"{\"threads\": \"2\"}", "config: /threads must be an integer 1..256"},
    {"{\"threads\": 2.5}", "config: /threads must be an integer 1..256"},
    {"{\"thread\": 2}", "config: unknown key /thread"},
    {"{\"listen\": 8080}", "config: /listen must be a string HOST:PORT (port 0..65535)"},
    {"{\"listen\": \"localhost\"}", "config: /listen must be a string HOST:PORT (port 0..65535)"},
    {"{\"listen\": \"127.0.0.1:65536\"}",
     "config: /listen must be a string HOST:PORT (port 0..65535)"},
    {"{\"max_body_bytes\": 100}", "config: /max_body_bytes must be an integer 1024..1073741824"},
    {"{\"max_connections\": 0}", "config: /max_connections must be an integer 1..1000000"},
    {"{\"request_timeout_ms\": true}",
     "config: /request_timeout_ms must be an integer 100..3600000"},
    {"{\"plugins\": []}", "config: /plugins must be an object"},
    {"{\"plugins\": {\"dir\": 1}}", "config: /plugins/dir must be a string"},
    {"{\"plugins\": {\"load\": [\"email\", 2]}}", "config: /plugins/load/1 must be a string"},
    {"{\"plugins\": {\"load\": \"email\"}}", "config: /plugins/load must be an array of strings"},
    {"{\"plugins\": {\"path\": \"x\"}}", "config: unknown key /plugins/path"},
    {"{\"channels\": []}", "config: /channels must be an object"},
    {"{\"channels\": {\"fax\": 1}}", "config: /channels/fax must be an object"},
    {"{\"channels\": {\"a/b~c\": []}}", "config: /channels/a~1b~0c must be an object"},
    {"{\"delivery\": {\"workers\": 0}}", "config: /delivery/workers must be an integer 1..256"},
    {"{\"delivery\": {\"retry\": {\"base_ms\": -1}}}",
     "config: /delivery/retry/base_ms must be an integer 1..3600000"},
    {"{\"delivery\": {\"retry\": {\"max_ms\": 0}}}",
     "config: /delivery/retry/max_ms must be an integer 1..86400000"},
    {"{\"delivery\": {\"retry\": {\"give_up\": 1}}}",
     "config: unknown key /delivery/retry/give_up"},
    {"{\"outbox\": {\"dir\": null}}", "config: /outbox/dir must be a string"},
    {"{\"store\": {\"map_size_mb\": 0}}",
     "config: /store/map_size_mb must be an integer 1..1048576"},
    {"{\"store\": {\"map_size\": 1}}", "config: unknown key /store/map_size"},
    {"{\"log_level\": \"trace\"}",
     "config: /log_level must be one of \"debug\", \"info\", \"warn\", \"error\""},
    {"[]", "config: the file must hold a JSON object"},
    {"{\"threads\": 2, \"threads\": 3}",
     "config: line 1 column 24: duplicate object key near '\"threads\"'"},
    {"{\"threads\": ", "config: line 1 column 12: unexpected token near end of file"},
};

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        hub_config cfg, dflt;
        hub_error err;
        hub_config_defaults(&cfg);
        hub_config_defaults(&dflt);
        hub_error_init(&err);
        int rc = hub_config_parse(&cfg, bad_cases[i].text, strlen(bad_cases[i].text), &err);
        CHECK(rc == HUB_EINVAL);
        CHECK_STR(err.message, bad_cases[i].message);
        CHECK(strchr(err.message, '\n') == NULL);
        CHECK(cfg.raw == NULL); /* nothing kept from a refused file */
        CHECK(memcmp(&cfg.http, &dflt.http, sizeof(cfg.http)) == 0); /* settings untouched */
        hub_config_free(&cfg);
        hub_error_clear(&err);
    }
}

static void test_load_file(void)
{
    const char *dir = test_tmpdir("app_config");
    char path[600];
    hub_config cfg;
    hub_error err;
    snprintf(path, sizeof(path), "%s/omnihub.json", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("{\"listen\": \"0.0.0.0:9090\", \"threads\": 3}\n", f);
    fclose(f);
    hub_config_defaults(&cfg);
    hub_error_init(&err);
    REQUIRE(hub_config_load(&cfg, path, &err) == 0);
    CHECK_STR(cfg.http.host, "0.0.0.0");
    CHECK(cfg.http.port == 9090);
    CHECK(cfg.http.threads == 3);
    hub_config_free(&cfg);
    snprintf(path, sizeof(path), "%s/missing.json", dir);
    hub_config_defaults(&cfg);
    CHECK(hub_config_load(&cfg, path, &err) == HUB_EIO);
    CHECK(strstr(err.message, "missing.json") != NULL);
    hub_config_free(&cfg);
    hub_error_clear(&err);
}

static void test_listen(void)
{
    char host[64] = "unchanged";
    uint16_t port = 7;
    CHECK(hub_config_parse_listen("example.org:443", host, &port) == 0);
    CHECK_STR(host, "example.org");
    CHECK(port == 443);
    CHECK(hub_config_parse_listen(":80", host, &port) == HUB_EINVAL);
    CHECK(hub_config_parse_listen("::1:80", host, &port) == HUB_EINVAL);
    CHECK(hub_config_parse_listen("[]:80", host, &port) == HUB_EINVAL);
    CHECK(hub_config_parse_listen("host:", host, &port) == HUB_EINVAL);
    CHECK(hub_config_parse_listen("host:8x", host, &port) == HUB_EINVAL);
    CHECK(hub_config_parse_listen("bad host:80", host, &port) == HUB_EINVAL);
    CHECK_STR(host, "example.org"); /* untouched on failure */
    CHECK(port == 443);
}

int main(void)
{
    RUN(test_example);
    RUN(test_added_keys_and_defaults);
    RUN(test_bad);
    RUN(test_load_file);
    RUN(test_listen);
    return TEST_SUMMARY();
}
