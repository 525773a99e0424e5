/*
 * Render benchmark (run by hand, never by the test suite):
 *
 *   build/render_bench [--seconds S] [--plugins DIR]
 *
 * Publishes one message whose SMS and email fields use variables, filters, a condition and
 * a block, then renders it on one thread for S seconds per channel, the way POST
 * /v1/render does after its read transaction starts (warm per-thread template cache, a new
 * recipient object per render). Prints renders per second per core against the budget of
 * DESIGN.md (SMS 200k/s, email MIME 20k/s), and, as a reference measured in the same run,
 * the rate of producing the same final text with snprintf alone (no template engine, no
 * plugin): the floor of the work, so the ratio says how much the engine and plugin cost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"

static const char *locales_json =
    "{\"locales\": [{\"tag\": \"en\", \"name\": \"English\", \"default\": true}]}";

static const char *block_json =
    "{\"key\": \"blocks/sig\", \"kind\": \"block\", \"title\": \"Signature\", \"status\": "
    "\"published\", \"variants\": [{\"id\": \"default\", \"content\": {\"en\": {"
    "\"sms\": {\"text\": \"Northwind Bank. Reply STOP to opt out.\"},"
    "\"email\": {\"subject\": \"sig\", \"html\": \"<p style=\\\"color:#666\\\">Northwind Bank "
    "plc, 1 Harbour Street, London. <a href=\\\"https://northwind.example/u?r={{ recipient.id "
    "}}\\\">Unsubscribe</a></p>\"}}}}]}";

static const char *item_json =
    "{\"key\": \"bench/offer\", \"kind\": \"message\", \"title\": \"Offer\", \"status\": "
    "\"published\", \"variants\": [{\"id\": \"control\", \"content\": {\"en\": {"
    "\"sms\": {\"text\": \"Hi {{ first_name | default: 'there' | capitalize }}, {% if balance > "
    "1000 %}you qualify for 2.1% on savings{% else %}start saving from 1 pound{% endif %}. "
    "{% render 'blocks/sig' %}\"},"
    "\"email\": {\"subject\": \"{{ first_name | default: 'Hello' }}, your {{ product | upcase "
    "}} offer\", \"preheader\": \"Rates from {{ rate | round: 1 }}%\", \"html\": \"<h1>Hello "
    "{{ first_name | default: 'there' }}</h1><p>{% if balance > 1000 %}You qualify for our "
    "best rate of {{ rate | round: 1 }}%.{% else %}Start saving from 1 pound.{% endif %}</p>"
    "<p>Your adviser: {{ adviser | default: 'the team' | escape }}</p>{% render 'blocks/sig' "
    "%}\"}}}}]}";

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Renders channel for `seconds`; returns renders per second. */
static double bench_channel(const hub_renderer *r, hub_store *store, const char *channel,
                            double seconds, size_t *artifact_len)
{
    hub_render_cache *cache = hub_render_cache_new(0);
    json_t *attrs = json_pack("{s:s, s:i, s:s, s:f, s:s}", "first_name", "jörg", "balance", 2500,
                              "product", "saver", "rate", 2.14, "adviser", "Ann & Bo");
    long n = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < seconds) {
        for (int k = 0; k < 200; k++, n++) {
            json_t *rcp =
                json_pack("{s:s, s:[], s:O, s:s, s:s}", "id", "cust-42", "segments", "attributes",
                          attrs, "email", "jorg@example.org", "phone", "+436641234567");
            hub_render_request rq = {.item = "bench/offer",
                                     .channel = channel,
                                     .locale = "en",
                                     .recipient = rcp,
                                     .now_ms = 1767225600000};
            hub_render_result res;
            hub_error err;
            hub_txn *txn = NULL;
            hub_error_init(&err);
            hub_render_result_init(&res);
            int rc = hub_store_read(store, &txn);
            if (rc == 0)
                rc = hub_render(r, cache, txn, &rq, &res, &err);
            hub_txn_end(txn);
            if (rc != 0) {
                fprintf(stderr, "render %s failed: %s\n", channel, err.message);
                exit(1);
            }
            *artifact_len = res.artifact.len;
            hub_render_result_free(&res);
            hub_error_clear(&err);
            json_decref(rcp);
        }
        t = now_s();
    }
    json_decref(attrs);
    hub_render_cache_free(cache);
    return (double)n / (t - t0);
}

/* The floor: the final SMS and email bodies produced by snprintf with the same values. */
static double bench_reference(int email, double seconds)
{
    char out[8192];
    long n = 0;
    volatile size_t sink = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < seconds) {
        for (int k = 0; k < 1000; k++, n++) {
            int w = email
                        ? snprintf(out, sizeof(out),
                                   "Subject: %s, your %s offer\r\n\r\n<h1>Hello %s</h1><p>You "
                                   "qualify for our best rate of %.1f%%.</p><p>Your adviser: "
                                   "%s</p><p>Northwind Bank plc</p>",
                                   "jörg", "SAVER", "jörg", 2.14, "Ann &amp; Bo")
                        : snprintf(out, sizeof(out), "Hi %s, you qualify for 2.1%% on savings. %s",
                                   "Jörg", "Northwind Bank. Reply STOP to opt out.");
            sink += (size_t)w;
        }
        t = now_s();
    }
    (void)sink;
    return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
    double seconds = 3;
    const char *plugins = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--plugins") == 0)
            plugins = argv[i + 1];
    }
    char dir[] = "/tmp/omnihub-render-bench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char data[4200], files[4200];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(files, sizeof(files), "%s/files", dir);
    mkdir(files, 0700);
    if (write_file(files, "locales.json", locales_json) ||
        write_file(files, "a-sig.json", block_json) || write_file(files, "b-offer.json", item_json))
        return 1;
    hub_config cfg;
    hub_channels ch = {0};
    hub_store *store = NULL;
    hub_store_options so = {0};
    hub_error err;
    hub_error_init(&err);
    hub_config_defaults(&cfg);
    if (plugins != NULL)
        json_object_set_new(cfg.plugins = json_object(), "dir", json_string(plugins));
    so.dir = data;
    if (hub_channels_open(&ch, &cfg, data, &err) != 0 || hub_store_open(&store, &so, &err) != 0) {
        fprintf(stderr, "render_bench: %s\n", err.message);
        return 1;
    }
    char *paths[] = {files};
    if (hub_import_paths(store, ch.renderer, paths, 1) != 0)
        return 1;
    size_t sms_len = 0, email_len = 0;
    double sms = bench_channel(ch.renderer, store, "sms", seconds, &sms_len);
    double sms_ref = bench_reference(0, seconds);
    double email = bench_channel(ch.renderer, store, "email", seconds, &email_len);
    double email_ref = bench_reference(1, seconds);
    printf("render, 1 thread, %.0f s each, warm template cache\n", seconds);
    printf("  sms:   %9.0f renders/s (artifact %zu B)  budget 200000/s: %.2fx  "
           "snprintf floor %.0f/s: ratio %.3f\n",
           sms, sms_len, sms / 200000, sms_ref, sms / sms_ref);
    printf("  email: %9.0f renders/s (artifact %zu B)  budget  20000/s: %.2fx  "
           "snprintf floor %.0f/s: ratio %.3f\n",
           email, email_len, email / 20000, email_ref, email / email_ref);
    hub_store_close(store);
    hub_channels_close(&ch);
    if (plugins != NULL)
        json_decref(cfg.plugins);
    hub_config_free(&cfg);
    hub_error_clear(&err);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
