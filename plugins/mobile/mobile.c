/*
 * mobile: the push notification channel. One notification (title, body, image, deep link,
 * data) is rendered as both an APNs payload and an FCM HTTP v1 message; each is checked
 * against the 4096 bytes both services accept (a problem over it, a "push_size" warning past
 * warn_bytes). deliver() writes the artifact to the outbox, or posts one request per device
 * token to an HTTP push gateway.
 *
 * Artifact: {"apns": {...}, "fcm": {"message": {...}}, "bytes": {"apns": n, "fcm": n}}, n the
 * length of that payload's compact JSON exactly as this plugin serializes and sends it.
 *
 * The data field (an object of strings) goes into the APNs payload's top level and FCM's
 * data; keys either service reserves are refused ("aps", "from", "notification",
 * "message_type", "google.*", "gcm.*"), and so are "deep_link" and "image", which the
 * fields of the same names set there.
 *
 * Configuration (channels.mobile): see config.c.
 *
 * Threads: the state is read-only after create(); validate, render and deliver keep all
 * they build on their own stack and heap.
 */
#include <jansson.h>
#include <omnihub/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mobile.h"

enum { F_TITLE, F_BODY, F_IMAGE, F_DEEP_LINK, F_DATA, NFIELDS };

/* ---- the field schema ---------------------------------------------------------------------- */

static const hub_plugin_field f_title =
    KIT_FIELD(HUB_FIELD_TEXT, "title", 1, 500,
              "the notification's title; with the body, each APNs and FCM payload must fit "
              "in 4096 bytes");
static const hub_plugin_field f_body =
    KIT_FIELD(HUB_FIELD_TEXT, "body", 1, 4000,
              "the notification's text; with the title, each APNs and FCM payload must fit "
              "in 4096 bytes");
static const hub_plugin_field f_image =
    KIT_FIELD(HUB_FIELD_URL, "image", 0, 2048, "an https:// image shown with the notification");
static const hub_plugin_field f_deep_link =
    KIT_FIELD(HUB_FIELD_URL, "deep_link", 0, 2048, "where a tap leads: app-scheme:// or https://");
static const hub_plugin_field f_data =
    KIT_FIELD(HUB_FIELD_OBJECT, "data", 0, 4096, "string key/values handed to the app");

static const hub_plugin_field *const field_list[NFIELDS] = {&f_title, &f_body, &f_image,
                                                            &f_deep_link, &f_data};
static const hub_plugin_schema schema = {sizeof(hub_plugin_schema), NFIELDS, field_list};

/* ---- state and configuration --------------------------------------------------------------- */

static int mobile_create(const hub_plugin_create_in *in, void **state, char *err, size_t errcap)
{
    mobile_state *st = NULL;
    int rc = mobile_config_parse(in->host, in->config, &st, err, errcap);
    *state = st;
    return rc;
}

static void mobile_free(void *state)
{
    mobile_state_free(state);
}

static const hub_plugin_schema *mobile_fields(void *state)
{
    (void)state;
    return &schema;
}

/* ---- checking the fields ------------------------------------------------------------------- */

/* Why the URL in field `name` is refused, or NULL. image: https:// with something after;
 * deep_link: any "scheme://" but the script and local ones. */
static const char *url_refusal(hub_str u, int is_image)
{
    if (kit_has_space_or_control(u.ptr, u.len))
        return "must not contain spaces or control characters";
    size_t sl = kit_url_scheme(u.ptr, u.len);
    if (is_image)
        return sl > 0 && kit_scheme_is(u.ptr, sl, "https") && u.len > sl + 3
                   ? NULL
                   : "must be an https:// URL";
    if (sl == 0)
        return "must be a URL of the form scheme://... (an app scheme or https)";
    if (kit_scheme_is(u.ptr, sl, "javascript") || kit_scheme_is(u.ptr, sl, "data") ||
        kit_scheme_is(u.ptr, sl, "vbscript") || kit_scheme_is(u.ptr, sl, "file"))
        return "must not use a script or file scheme";
    return NULL;
}

static int data_key_reserved(const char *k)
{
    static const char *const names[] = {"aps",          "from",      "notification",
                                        "message_type", "deep_link", "image"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(k, names[i]) == 0)
            return 1;
    return strncmp(k, "google.", 7) == 0 || strncmp(k, "gcm.", 4) == 0;
}

/* What the payloads are built from, after the checks: refused parts are left out. */
typedef struct push_in {
    hub_str title;
    hub_str body;
    hub_str image;     /* .ptr NULL: absent or refused */
    hub_str deep_link; /* likewise */
    json_t *data;      /* new: an object of string values, or NULL */
} push_in;

/* Parses the data field; reports and drops what cannot be sent. Returns the problems. */
static int check_data(const mobile_state *st, hub_str s, hub_report *r, json_t **out)
{
    json_error_t je;
    const char *key;
    json_t *v, *tmp;
    int problems = 0;
    json_t *d = json_loadb(s.ptr, s.len, JSON_REJECT_DUPLICATES, &je);
    if (d == NULL || !json_is_object(d)) {
        st->host->report_problem(r, "data", "must be a JSON object of string values");
        json_decref(d);
        return 1;
    }
    json_object_foreach_safe(d, tmp, key, v)
    {
        const char *why = data_key_reserved(key) ? "is reserved by APNs or FCM"
                          : !json_is_string(v)   ? "must have a string value"
                                                 : NULL;
        if (why != NULL) {
            st->host->report_problem(r, "data", "key \"%.64s\" %s", key, why);
            problems++;
            json_object_del(d, key);
        }
    }
    *out = d;
    return problems;
}

/* Checks the fields of in and fills x; returns the number of problems reported. */
static int check_fields(const mobile_state *st, const hub_render_in *in, hub_report *r, push_in *x)
{
    static const char *const names[NFIELDS] = {"title", "body", "image", "deep_link", "data"};
    int problems = 0;
    memset(x, 0, sizeof(*x));
    for (int i = 0; i < NFIELDS; i++) {
        hub_str s = in->fields[i];
        if (!kit_present(s))
            continue;
        const char *why = !kit_utf8_valid(s.ptr, s.len)      ? "is not valid UTF-8"
                          : i == F_IMAGE || i == F_DEEP_LINK ? url_refusal(s, i == F_IMAGE)
                                                             : NULL;
        if (why != NULL) {
            st->host->report_problem(r, names[i], "%s", why);
            problems++;
            continue;
        }
        if (i == F_TITLE)
            x->title = s;
        else if (i == F_BODY)
            x->body = s;
        else if (i == F_IMAGE)
            x->image = s;
        else if (i == F_DEEP_LINK)
            x->deep_link = s;
        else
            problems += check_data(st, s, r, &x->data);
    }
    return problems;
}

/* ---- building the payloads ----------------------------------------------------------------- */

/* obj[key] = v (stolen); a NULL v or a failed set marks *bad. */
static void put(json_t *obj, const char *key, json_t *v, int *bad)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        *bad = 1;
}

static json_t *jstr(hub_str s)
{
    return json_stringn(s.ptr != NULL ? s.ptr : "", s.ptr != NULL ? s.len : 0);
}

static json_t *build_apns(const mobile_state *st, const push_in *x)
{
    json_t *apns = json_object(), *aps = json_object(), *alert = json_object();
    const char *key;
    json_t *v;
    int bad = apns == NULL;
    put(alert, "title", jstr(x->title), &bad);
    put(alert, "body", jstr(x->body), &bad);
    put(aps, "alert", alert, &bad);
    if (st->sound != NULL)
        put(aps, "sound", json_string(st->sound), &bad);
    if (x->image.ptr != NULL)
        put(aps, "mutable-content", json_integer(1), &bad);
    if (st->thread_id != NULL)
        put(aps, "thread-id", json_string(st->thread_id), &bad);
    if (st->category != NULL)
        put(aps, "category", json_string(st->category), &bad);
    put(apns, "aps", aps, &bad);
    if (x->deep_link.ptr != NULL)
        put(apns, "deep_link", jstr(x->deep_link), &bad);
    if (x->image.ptr != NULL)
        put(apns, "image", jstr(x->image), &bad);
    json_object_foreach(x->data, key, v)
    {
        if (json_object_set(apns, key, v) != 0)
            bad = 1;
    }
    if (bad) {
        json_decref(apns);
        return NULL;
    }
    return apns;
}

static json_t *build_fcm(const mobile_state *st, const push_in *x)
{
    json_t *fcm = json_object(), *msg = json_object(), *note = json_object();
    json_t *data = x->data != NULL ? json_copy(x->data) : json_object();
    json_t *android = json_object();
    int bad = fcm == NULL;
    put(note, "title", jstr(x->title), &bad);
    put(note, "body", jstr(x->body), &bad);
    if (x->image.ptr != NULL)
        put(note, "image", jstr(x->image), &bad);
    if (x->deep_link.ptr != NULL)
        put(data, "deep_link", jstr(x->deep_link), &bad);
    put(android, "priority", json_string(st->priority), &bad);
    if (st->channel_id != NULL)
        put(android, "notification", json_pack("{s:s}", "channel_id", st->channel_id), &bad);
    put(msg, "notification", note, &bad);
    put(msg, "data", data, &bad);
    put(msg, "android", android, &bad);
    put(fcm, "message", msg, &bad);
    if (bad) {
        json_decref(fcm);
        return NULL;
    }
    return fcm;
}

/* Reports a payload over the limit (a problem) or past warn_bytes (a warning). */
static int check_size(const mobile_state *st, hub_report *r, const char *which, size_t n)
{
    if (n > PUSH_MAX_BYTES) {
        st->host->report_problem(r, NULL, "the %s payload is %zu bytes, over the %d-byte limit",
                                 which, n, PUSH_MAX_BYTES);
        return 1;
    }
    if (n > st->warn_bytes)
        st->host->report_warning(r, "push_size",
                                 "the %s payload is %zu bytes, near the %d-byte limit", which, n,
                                 PUSH_MAX_BYTES);
    return 0;
}

/*
 * Checks and builds both payloads: *problems counts what was reported. On 0, *apns and
 * *fcm are new (the caller decrefs them) and their sizes are checked.
 */
static int build(const mobile_state *st, const hub_render_in *in, hub_report *r, json_t **apns,
                 json_t **fcm, int *problems)
{
    push_in x;
    *apns = *fcm = NULL;
    if (in->nfields != NFIELDS || in->fields == NULL)
        return HUB_PLUGIN_EINVAL;
    *problems = check_fields(st, in, r, &x);
    *apns = build_apns(st, &x);
    *fcm = build_fcm(st, &x);
    json_decref(x.data);
    if (*apns == NULL || *fcm == NULL) {
        json_decref(*apns);
        json_decref(*fcm);
        *apns = *fcm = NULL;
        return HUB_PLUGIN_ENOMEM;
    }
    *problems += check_size(st, r, "APNs", json_dumpb(*apns, NULL, 0, JSON_COMPACT));
    *problems += check_size(st, r, "FCM", json_dumpb(*fcm, NULL, 0, JSON_COMPACT));
    return 0;
}

static int mobile_validate(void *state, const hub_render_in *in, hub_report *report)
{
    json_t *apns, *fcm;
    int problems;
    int rc = build(state, in, report, &apns, &fcm, &problems);
    json_decref(apns);
    json_decref(fcm);
    return rc;
}

/* Appends {"apns": ..., "fcm": ..., "bytes": {"apns": n, "fcm": n}} to out. */
static int emit(const mobile_state *st, json_t *apns, json_t *fcm, hub_out *out)
{
    json_t *a = json_pack("{s:O,s:O,s:{s:I,s:I}}", "apns", apns, "fcm", fcm, "bytes", "apns",
                          (json_int_t)json_dumpb(apns, NULL, 0, JSON_COMPACT), "fcm",
                          (json_int_t)json_dumpb(fcm, NULL, 0, JSON_COMPACT));
    char *text = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
    int rc = text == NULL ? HUB_PLUGIN_ENOMEM : st->host->out_append(out, text, strlen(text));
    free(text);
    json_decref(a);
    return rc;
}

static int mobile_render(void *state, const hub_render_in *in, hub_out *artifact,
                         hub_report *report)
{
    json_t *apns, *fcm;
    int problems;
    int rc = build(state, in, report, &apns, &fcm, &problems);
    if (rc == 0)
        rc = problems > 0 ? HUB_PLUGIN_EINVAL : emit(state, apns, fcm, artifact);
    json_decref(apns);
    json_decref(fcm);
    return rc;
}

/* ---- delivery ------------------------------------------------------------------------------ */

/* The recipient's usable push targets, [{"platform","token","index"}] in their order
 * (index: the position in the recipient's "push" array); entries without a known platform
 * or a token are skipped. */
static json_t *push_targets(const json_t *recipient)
{
    json_t *out = json_array();
    const json_t *push = json_object_get(recipient, "push");
    size_t i;
    json_t *e;
    if (out == NULL || !json_is_array(push))
        return out;
    json_array_foreach(push, i, e)
    {
        const char *p = json_string_value(json_object_get(e, "platform"));
        const char *t = json_string_value(json_object_get(e, "token"));
        if (p == NULL || t == NULL || t[0] == '\0' ||
            (strcmp(p, "apns") != 0 && strcmp(p, "fcm") != 0))
            continue;
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:I}", "platform", p, "token", t, "index", (json_int_t)i));
    }
    return out;
}

/* The artifact plus the targets: {"apns","fcm","bytes","push":[{"platform","token"}]}. */
static int deliver_outbox(const mobile_state *st, const hub_deliver_in *in, json_t *art,
                          const json_t *targets, hub_deliver_out *out)
{
    json_t *push = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        json_array_append_new(push,
                              json_pack("{s:O,s:O}", "platform", json_object_get(t, "platform"),
                                        "token", json_object_get(t, "token")));
    }
    if (push == NULL || json_array_size(push) != json_array_size(targets)) {
        json_decref(push);
        return kit_err(out->error, out->error_cap, HUB_DELIVER_RETRY, "out of memory");
    }
    if (json_object_set_new(art, "push", push) != 0) /* it took push either way */
        return kit_err(out->error, out->error_cap, HUB_DELIVER_RETRY, "out of memory");
    return kit_outbox_json(st->host, "mobile", in->message_id, art, 0, out);
}

/* POSTs {"platform","token","payload"} for one target; a deliver code, reason in why. */
static int send_one(const mobile_state *st, const hub_deliver_in *in, const json_t *target,
                    const json_t *payload, char *why, size_t whycap, int64_t *retry_after)
{
    hub_http_response res;
    char key[160];
    json_t *body = json_pack("{s:O,s:O,s:O}", "platform", json_object_get(target, "platform"),
                             "token", json_object_get(target, "token"), "payload", payload);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        snprintf(why, whycap, "out of memory");
        return HUB_DELIVER_RETRY;
    }
    /* One key per target: the gateway must not take a second device's request for a
     * replay of the first; the index is stable across attempts of the message. */
    snprintf(key, sizeof(key), "%.128s.%lld", in->message_id,
             (long long)json_integer_value(json_object_get(target, "index")));
    int rc = kit_http_post(st->host, st->url, &st->headers, "application/json", key,
                           (hub_str){text, strlen(text)}, st->timeout_ms, &res, why, whycap);
    free(text);
    if (rc == HUB_DELIVER_OK && res.status != 0 && (res.status < 200 || res.status > 299)) {
        rc = res.status == 429 || res.status >= 500 ? HUB_DELIVER_RETRY : HUB_DELIVER_FAIL;
        snprintf(why, whycap, "the push gateway answered %u", res.status);
    }
    if (rc == HUB_DELIVER_RETRY && res.retry_after_ms > *retry_after)
        *retry_after = res.retry_after_ms;
    return rc;
}

/* One request per target; the result is the worst outcome (FAIL over RETRY over OK). */
static int deliver_http(const mobile_state *st, const hub_deliver_in *in, const json_t *art,
                        const json_t *targets, hub_deliver_out *out)
{
    int worst = HUB_DELIVER_OK;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        const char *platform = json_string_value(json_object_get(t, "platform"));
        char why[256] = "";
        int64_t retry_after = 0;
        int rc =
            send_one(st, in, t, json_object_get(art, platform), why, sizeof(why), &retry_after);
        if (rc > worst) {
            worst = rc;
            kit_err(out->error, out->error_cap, rc, "%s token %lld: %s", platform,
                    (long long)json_integer_value(json_object_get(t, "index")), why);
        }
        if (rc == HUB_DELIVER_RETRY && retry_after > out->retry_after_ms)
            out->retry_after_ms = retry_after;
    }
    return worst;
}

static int mobile_deliver(void *state, const hub_deliver_in *in, hub_deliver_out *out)
{
    const mobile_state *st = state;
    json_error_t je;
    int rc;
    if (in->message_id == NULL)
        return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, "no message id");
    json_t *art = json_loadb(in->artifact.ptr, in->artifact.len, 0, &je);
    json_t *targets = push_targets(in->recipient);
    if (!json_is_object(json_object_get(art, "apns")) ||
        !json_is_object(json_object_get(art, "fcm")))
        rc = kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL,
                     "the artifact is not a mobile artifact");
    else if (targets == NULL)
        rc = kit_err(out->error, out->error_cap, HUB_DELIVER_RETRY, "out of memory");
    else if (json_array_size(targets) == 0)
        rc = kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, "no push token");
    else if (st->driver == DRIVER_HTTP)
        rc = deliver_http(st, in, art, targets, out);
    else
        rc = deliver_outbox(st, in, art, targets, out);
    json_decref(targets);
    json_decref(art);
    return rc;
}

/* ---- the entry point ----------------------------------------------------------------------- */

static const hub_plugin mobile_plugin = {
    .struct_size = sizeof(hub_plugin),
    .abi_major = OMNIHUB_PLUGIN_ABI_MAJOR,
    .abi_minor = OMNIHUB_PLUGIN_ABI_MINOR,
    .name = "mobile",
    .version = "1.0.0",
    .description = "push notifications: APNs and FCM payloads, outbox or HTTP push gateway",
    .create = mobile_create,
    .fields = mobile_fields,
    .validate = mobile_validate,
    .render = mobile_render,
    .deliver = mobile_deliver,
    .free = mobile_free,
};

int omnihub_plugin_entry(const hub_host_api *host, uint32_t abi_major, const hub_plugin **out)
{
    return kit_plugin_entry(host, abi_major, &mobile_plugin, out);
}
