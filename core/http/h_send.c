/*
 * POST /v1/journeys/{id}/steps/{step}/send: renders each channel of a journey step for one
 * recipient and queues one delivery per channel.
 *
 *   {"recipient": {"id", "locale", "email", "phone", "push": [{"platform","token"}],
 *                  "segments": [...], "attributes": {...}, "consent": {"sms": false},
 *                  "preferred_channel"},
 *    "channels": null | [names], "idempotency_key": null | string}
 *
 * The step's channels are narrowed by `channels`, the token's channel limits, consent and
 * missing addresses; each skip is reported with its reason. 202 {"deliveries":[{"id",
 * "channel","variant","locale","message_id","status":"queued"}],"skipped":[{"channel",
 * "reason"}]} once the jobs are committed, in the same transaction as the idempotency record.
 *
 * Idempotency: the key (the Idempotency-Key header or the body's idempotency_key; both must
 * agree; each token has its own keys) is bound for 24 h to a SHA-256 of the journey, the step and
 * the body without the key. The same key and request returns the stored first answer
 * (Idempotent-Replayed: true) and queues nothing; the same key with another request is 422.
 * Concurrent duplicates meet on the writer thread, which keeps exactly one set of jobs.
 *
 * Rendering happens here, on the loop thread, before the write: the writer only stores.
 *
 * The variant is chosen once for the recipient (h_assign.c: its id is the subject, its
 * segments the audience) and every channel sends it. A held-out recipient gets no delivery:
 * each channel is skipped with the reason "holdout". The exposure, and the sticky assignment,
 * are stored in the transaction that queues the jobs. The answer names "variant",
 * "experiment_bucket" and "reason" as GET /v1/content does.
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"

static const char *const body_members[] = {"recipient", "channels", "idempotency_key", NULL};
static const char *const recipient_members[] = {"id",         "locale",  "email",
                                                "phone",      "push",    "segments",
                                                "attributes", "consent", "preferred_channel",
                                                NULL};

static int listed(const char *const *names, const char *k)
{
    for (size_t i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], k) == 0)
            return 1;
    return 0;
}

static void check_strings(const json_t *v, const char *path, hub_problems *p)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v)) {
        hub_problems_add(p, path, "must be an array of strings");
        return;
    }
    json_array_foreach(v, i, e) if (!json_is_string(e) || json_string_length(e) == 0)
        hub_problems_add(p, path, "member %zu must be a non-empty string", i);
}

/* [{"platform": "apns"|"fcm", "token": non-empty string}, ...] */
static void check_push(const json_t *v, hub_problems *p)
{
    static const char *const push_members[] = {"platform", "token", NULL};
    size_t i;
    json_t *e;
    if (!json_is_array(v)) {
        hub_problems_add(p, "/recipient/push", "must be an array of {platform, token}");
        return;
    }
    json_array_foreach(v, i, e)
    {
        const char *pf = json_string_value(json_object_get(e, "platform")), *k;
        const json_t *tok = json_object_get(e, "token"), *m;
        json_object_foreach((json_t *)e, k, m) if (!listed(push_members, k))
            hub_problems_add(p, "/recipient/push", "member %zu: unknown member '%.64s'", i, k);
        if (pf == NULL || (strcmp(pf, "apns") != 0 && strcmp(pf, "fcm") != 0) ||
            !json_is_string(tok) || json_string_length(tok) == 0 || json_string_length(tok) > 4096)
            hub_problems_add(p, "/recipient/push",
                             "member %zu must be {\"platform\": \"apns\"|\"fcm\", "
                             "\"token\": a non-empty string}",
                             i);
    }
}

void hub_check_recipient(const json_t *rc, int id_required, hub_problems *p)
{
    const char *k;
    json_t *v;
    if (!json_is_object(rc)) {
        hub_problems_add(p, "/recipient", "required: an object with at least an id");
        return;
    }
    json_object_foreach((json_t *)rc, k, v) if (!listed(recipient_members, k))
        hub_problems_add(p, "/recipient", "unknown member '%.64s'", k);
    v = json_object_get(rc, "id");
    if ((id_required || (v != NULL && !json_is_null(v))) &&
        (!json_is_string(v) || json_string_length(v) == 0 ||
         json_string_length(v) > HUB_RECIPIENT_ID_MAX))
        hub_problems_add(p, "/recipient/id", "%s a string of 1 to %d bytes",
                         id_required ? "required:" : "must be", HUB_RECIPIENT_ID_MAX);
    static const char *const strings[] = {"locale", "email", "phone", "preferred_channel", NULL};
    for (size_t i = 0; strings[i] != NULL; i++) {
        v = json_object_get(rc, strings[i]);
        if (v != NULL && !json_is_null(v) && !json_is_string(v))
            hub_problems_add(p, "/recipient", "%s must be a string or null", strings[i]);
    }
    if ((v = json_object_get(rc, "segments")) != NULL && !json_is_null(v))
        check_strings(v, "/recipient/segments", p);
    if ((v = json_object_get(rc, "attributes")) != NULL && !json_is_null(v) && !json_is_object(v))
        hub_problems_add(p, "/recipient/attributes", "must be an object");
    if ((v = json_object_get(rc, "push")) != NULL && !json_is_null(v))
        check_push(v, p);
    if ((v = json_object_get(rc, "consent")) != NULL && !json_is_null(v)) {
        json_t *c;
        if (!json_is_object(v))
            hub_problems_add(p, "/recipient/consent", "must be an object of true or false");
        else
            json_object_foreach(v, k, c) if (!json_is_boolean(c))
                hub_problems_add(p, "/recipient/consent", "%.64s must be true or false", k);
    }
}

static void check_body(const json_t *b, hub_problems *p)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)b, k, v) if (!listed(body_members, k))
        hub_problems_add(p, "", "unknown member '%.64s'", k);
    hub_check_recipient(json_object_get(b, "recipient"), 1, p);
    v = json_object_get(b, "channels");
    if (v != NULL && !json_is_null(v))
        check_strings(v, "/channels", p);
    v = json_object_get(b, "idempotency_key");
    if (v != NULL && !json_is_null(v) &&
        (!json_is_string(v) || json_string_length(v) == 0 ||
         json_string_length(v) > HUB_IDEMPOTENCY_KEY_MAX))
        hub_problems_add(p, "/idempotency_key", "must be a string of 1 to %d bytes or null",
                         HUB_IDEMPOTENCY_KEY_MAX);
}

/* ---- the plan: what to render, what to skip ------------------------------------------------ */

static int array_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i,
                       e) if (json_is_string(e) && strcmp(json_string_value(e), s) == 0) return 1;
    return 0;
}

static int has_string(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) && json_string_length(v) > 0;
}

/* Why channel ch of the step is not sent to this recipient, or NULL. */
static const char *skip_reason(hub_request *r, const json_t *rcp, const json_t *wanted,
                               const char *ch)
{
    if (wanted != NULL && !array_has(wanted, ch))
        return "not requested";
    if (!hub_principal_allows_channel(&r->principal, ch))
        return "this token may not use the channel";
    if (json_is_false(json_object_get(json_object_get(rcp, "consent"), ch)))
        return "no consent";
    if (strcmp(ch, "email") == 0 && !has_string(rcp, "email"))
        return "no email address";
    if (strcmp(ch, "sms") == 0 && !has_string(rcp, "phone"))
        return "no phone number";
    if (strcmp(ch, "mobile") == 0 && json_array_size(json_object_get(rcp, "push")) == 0)
        return "no push token";
    if (hub_plugins_find(hub_renderer_plugins(r->renderer), ch, strlen(ch)) == NULL)
        return "the channel is not loaded";
    return NULL;
}

static void add_skip(json_t *skipped, const char *ch, const char *reason)
{
    json_array_append_new(skipped, json_pack("{s:s,s:s}", "channel", ch, "reason", reason));
}

/* Renders one channel into a prepared job, or adds a skip with the reason. */
static void prepare_one(hub_request *r, hub_txn *txn, const char *item, const char *variant,
                        const char *ch, const char *locale, json_t *jobs, json_t *skipped,
                        hub_problems *fails)
{
    hub_error err;
    hub_render_result res;
    const json_t *rcp = json_object_get(r->body, "recipient");
    hub_render_request rq = {
        .item = item, .channel = ch, .locale = locale, .variant = variant, .recipient = rcp};
    hub_error_init(&err);
    hub_render_result_init(&res);
    int rc = hub_render(r->renderer, r->render_cache, txn, &rq, &res, &err);
    if (rc == 0) {
        json_array_append_new(
            jobs, json_pack("{s:s,s:s,s:s,s:I,s:s,s:s%}", "channel", ch, "variant", res.variant,
                            "locale", res.locale, "version", (json_int_t)res.version, "message_id",
                            res.message_id, "artifact", res.artifact.data, res.artifact.len));
    } else {
        char why[300];
        if (res.problems.count > 0)
            snprintf(why, sizeof(why), "cannot render: %s: %s", res.problems.items[0].path,
                     res.problems.items[0].message);
        else
            snprintf(why, sizeof(why), "cannot render: %s", err.message);
        add_skip(skipped, ch, hub_utf8_scrub(why));
        hub_problems_add(fails, "/channels", "%s: %s", ch, why);
    }
    hub_render_result_free(&res);
    hub_error_clear(&err);
}

/*
 * The variant for the recipient: {"variant": id|null, "holdout": bool, "experiment_bucket":
 * n|null, "reason", "exposure": {...}|absent} (new). An item that is not published gives
 * {"variant": null}: rendering then says why.
 */
static json_t *decide(hub_txn *txn, const char *item, const json_t *rcp)
{
    hub_audience_in who = {{"", 0}, {{0}}, 0};
    hub_plan p;
    hub_decision d;
    hub_buf scratch;
    hub_error err;
    hub_exposure x;
    const char *id = json_string_value(json_object_get(rcp, "id"));
    who.subject = hub_slice_cstr(id != NULL ? id : "");
    who.nsegs =
        hub_segments_from_json(json_object_get(rcp, "segments"), who.segs, HUB_SEGMENTS_MAX);
    hub_buf_init(&scratch, 1u << 20);
    hub_error_init(&err);
    json_t *out = NULL;
    if (hub_req_assign(txn, item, 0, &who, &scratch, &p, &d, NULL, &err) == 0) {
        hub_slice v = hub_decision_variant(&p, &d);
        out = json_pack("{s:o,s:b,s:o,s:s}", "variant",
                        d.variant >= 0 ? json_stringn(v.base, v.len) : json_null(), "holdout",
                        d.variant < 0, "experiment_bucket",
                        d.bucket >= 0 ? json_integer(d.bucket) : json_null(), "reason",
                        hub_reason_name(d.reason));
        /* what the send's transaction records (the channel and the time come then) */
        hub_exposure_of(&p, &d, hub_slice_cstr(item), who.subject, (hub_slice){"", 0}, 0, &x);
        if (out != NULL && d.bucket >= 0)
            json_object_set_new(out, "exposure",
                                json_pack("{s:b,s:b}", "store", x.store, "replace", x.replace));
    }
    hub_error_clear(&err);
    hub_buf_free(&scratch);
    return out != NULL ? out
                       : json_pack("{s:n,s:b,s:n,s:n}", "variant", "holdout", 0,
                                   "experiment_bucket", "reason");
}

/* The jobs to queue (r->result = {"jobs":[...],"skipped":[...],...}), or an error answered. */
static int prepare(hub_request *r, const char *journey, const char *step, const char *locale)
{
    hub_txn *txn = NULL;
    json_t *j = NULL, *s = NULL;
    size_t i;
    hub_problems fails;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_journey_get(txn, journey, &j);
    json_array_foreach(json_object_get(j, "steps"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "id")), step) == 0)
            break;
    }
    if (rc != 0 || i == json_array_size(json_object_get(j, "steps"))) {
        hub_txn_end(txn);
        json_decref(j);
        char detail[700];
        snprintf(detail, sizeof(detail),
                 rc == 0               ? "journey '%.200s' has no step '%.200s'"
                 : rc == HUB_ENOTFOUND ? "no journey '%.200s'%.0s"
                                       : "cannot read journey '%.200s'%.0s",
                 journey, step);
        hub_req_send_problem(r, rc == 0 || rc == HUB_ENOTFOUND ? 404 : hub_status_for(rc), detail,
                             NULL);
        return -1;
    }
    const char *item = json_string_value(json_object_get(s, "item"));
    const json_t *rcp = json_object_get(r->body, "recipient");
    const json_t *wanted = json_object_get(r->body, "channels");
    json_t *jobs = json_array(), *skipped = json_array();
    hub_problems_init(&fails);
    json_t *decision = decide(txn, item, rcp);
    const char *variant = json_string_value(json_object_get(decision, "variant"));
    int holdout = json_is_true(json_object_get(decision, "holdout")), reachable = 0;
    if (json_is_array(wanted)) {
        json_t *w;
        json_array_foreach(wanted, i, w)
        {
            if (!array_has(json_object_get(s, "channels"), json_string_value(w)))
                add_skip(skipped, json_string_value(w), "not a channel of this step");
        }
    } else {
        wanted = NULL;
    }
    json_t *c;
    json_array_foreach(json_object_get(s, "channels"), i, c)
    {
        const char *ch = json_string_value(c), *why = skip_reason(r, rcp, wanted, ch);
        if (why == NULL && holdout) {
            why = "holdout";
            reachable = 1; /* would have been sent: the holdout's exposure counts */
        }
        if (why != NULL)
            add_skip(skipped, ch, why);
        else
            prepare_one(r, txn, item, variant, ch, locale, jobs, skipped, &fails);
    }
    hub_txn_end(txn);
    if (json_array_size(jobs) == 0 && fails.count > 0) {
        hub_req_send_problem(r, 422, "no channel of the step could be rendered", &fails);
        rc = -1;
    } else {
        if (holdout && !reachable)
            json_object_del(decision, "exposure"); /* no channel could have reached them */
        r->result = json_pack("{s:o,s:o,s:s,s:s,s:s,s:O}", "jobs", jobs, "skipped", skipped,
                              "journey", journey, "step", step, "item", item, "decision", decision);
        jobs = skipped = NULL;
        rc = r->result != NULL ? 0 : -1;
        if (rc != 0)
            hub_req_send_problem(r, 503, "out of memory", NULL);
    }
    json_decref(jobs);
    json_decref(skipped);
    json_decref(decision);
    hub_problems_clear(&fails);
    json_decref(j);
    return rc;
}

/* ---- the write ---------------------------------------------------------------------------------
 */

typedef struct send_state {
    /* "" without a key; else "<length of the token name>:<token name><key>": each token has
     * keys of its own, so two journey engines cannot collide on one */
    char key[HUB_IDEMPOTENCY_KEY_MAX + HUB_TOKEN_NAME_MAX + 32];
    char hash[HUB_SHA256_HEX_LEN + 1];
    int replayed;
    /* Made on the loop thread by stage(), so that the writer only stores: */
    int64_t now_ms;
    size_t n;          /* jobs */
    char **records;    /* each job's record text */
    hub_slice *bodies; /* each job's artifact (borrowed from the plan) */
    uint64_t *ids;     /* each job's id, set by the writer */
    json_t *answer;    /* the 202 answer, deliveries' "id" filled in by the writer */
    char *answer_text; /* the answer with every delivery's "id" "" (idempotent sends) */
    json_t *plan;      /* prepare()'s plan once the answer replaced it: freed here, not by
                        * the writer */
} send_state;

static void send_state_free(void *p)
{
    send_state *st = p;
    for (size_t i = 0; st->records != NULL && i < st->n; i++)
        free(st->records[i]);
    free(st->records);
    free(st->bodies);
    free(st->ids);
    json_decref(st->answer);
    json_decref(st->plan);
    free(st->answer_text);
    free(st);
}

/*
 * Everything of the send that does not need the write transaction, made here on the loop
 * thread: each job's record text and the answer (r->result is the plan prepare() made). The
 * writer then stores them, numbers the jobs and fills their ids in. 0, or HUB_ENOMEM.
 */
static int stage(hub_request *r, send_state *st)
{
    size_t i;
    json_t *job;
    const json_t *plan = r->result, *jobs = json_object_get(plan, "jobs");
    const json_t *dec = json_object_get(plan, "decision");
    st->now_ms = hub_now_ms();
    st->n = json_array_size(jobs);
    size_t n = st->n > 0 ? st->n : 1;
    st->records = calloc(n, sizeof(*st->records));
    st->bodies = calloc(n, sizeof(*st->bodies));
    st->ids = calloc(n, sizeof(*st->ids));
    st->answer = json_pack(
        "{s:[],s:O,s:O,s:O,s:O}", "deliveries", "skipped", json_object_get(plan, "skipped"),
        "variant", json_object_get(dec, "variant"), "experiment_bucket",
        json_object_get(dec, "experiment_bucket"), "reason", json_object_get(dec, "reason"));
    if (st->records == NULL || st->bodies == NULL || st->ids == NULL || st->answer == NULL)
        return HUB_ENOMEM;
    json_t *out = json_object_get(st->answer, "deliveries");
    json_array_foreach(jobs, i, job)
    {
        const json_t *art = json_object_get(job, "artifact");
        hub_job_in in = {
            .channel = json_string_value(json_object_get(job, "channel")),
            .item = json_string_value(json_object_get(plan, "item")),
            .variant = json_string_value(json_object_get(job, "variant")),
            .locale = json_string_value(json_object_get(job, "locale")),
            .journey = json_string_value(json_object_get(plan, "journey")),
            .step = json_string_value(json_object_get(plan, "step")),
            .message_id = json_string_value(json_object_get(job, "message_id")),
            .version = (uint32_t)json_integer_value(json_object_get(job, "version")),
            .recipient = json_object_get(r->body, "recipient"),
        };
        st->bodies[i] = (hub_slice){(char *)json_string_value(art), json_string_length(art)};
        st->records[i] = hub_job_record_text(&in, st->now_ms);
        /* "id" first, as the writer fills it in where it stands */
        if (st->records[i] == NULL ||
            json_array_append_new(out,
                                  json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", "", "channel",
                                            in.channel, "variant", in.variant, "locale", in.locale,
                                            "message_id", in.message_id, "status", "queued")) != 0)
            return HUB_ENOMEM;
    }
    if (st->key[0] != '\0' && (st->answer_text = json_dumps(st->answer, JSON_COMPACT)) == NULL)
        return HUB_ENOMEM;
    return 0;
}

/* Stores the staged jobs; fills their ids into the answer. */
static int enqueue_all(hub_txn *txn, send_state *st)
{
    json_t *out = json_object_get(st->answer, "deliveries");
    for (size_t i = 0; i < st->n; i++) {
        int rc = hub_job_enqueue_text(txn, st->records[i], st->bodies[i], st->now_ms, &st->ids[i]);
        if (rc != 0)
            return rc;
        if (json_object_set_new(json_array_get(out, i), "id", hub_job_id_json(st->ids[i])) != 0)
            return HUB_ENOMEM;
    }
    return 0;
}

/* Stores the send's exposure (and sticky assignment): for a held-out recipient always, else
 * when a delivery was queued; counted in the channel of the first delivery. */
static int record_exposure(hub_txn *txn, hub_request *r, const json_t *deliveries)
{
    const json_t *dec = json_object_get(r->result, "decision");
    const json_t *x = json_object_get(dec, "exposure");
    int holdout = json_is_true(json_object_get(dec, "holdout"));
    const char *subject =
        json_string_value(json_object_get(json_object_get(r->body, "recipient"), "id"));
    const char *variant = json_string_value(json_object_get(dec, "variant"));
    const char *ch = json_string_value(json_object_get(json_array_get(deliveries, 0), "channel"));
    if (x == NULL || subject == NULL || (!holdout && ch == NULL))
        return 0;
    hub_exposure e = {
        .key = hub_slice_cstr(json_string_value(json_object_get(r->result, "item"))),
        .subject = hub_slice_cstr(subject),
        .variant = hub_slice_cstr(variant != NULL ? variant : ""),
        .channel = hub_slice_cstr(ch != NULL ? ch : ""),
        .holdout = holdout,
        .store = json_is_true(json_object_get(x, "store")),
        .replace = json_is_true(json_object_get(x, "replace")),
        .ms = hub_now_ms(),
    };
    return hub_analytics_expose(txn, &e);
}

static int send_txn(hub_txn *txn, hub_request *r)
{
    send_state *st = r->scratch;
    json_t *answer = NULL;
    if (st->key[0] != '\0') {
        int rc = hub_idem_lookup(txn, st->key, st->hash, hub_now_ms(), &answer);
        if (rc == HUB_EINVAL)
            return hub_error_set(&r->err, HUB_EINVAL,
                                 "the idempotency key was used with another request");
        if (rc == 0) {            /* a duplicate got here first */
            st->plan = r->result; /* freed on the loop thread, not here */
            r->result = answer;
            st->replayed = 1;
            return 0;
        }
        if (rc != HUB_ENOTFOUND)
            return rc;
    }
    int rc = enqueue_all(txn, st);
    if (rc == 0)
        rc = record_exposure(txn, r, json_object_get(st->answer, "deliveries"));
    if (rc == 0 && st->key[0] != '\0')
        rc = hub_idem_put(txn, st->key, st->hash, st->answer_text, st->ids, st->n, st->now_ms);
    if (rc != 0)
        return rc;
    st->plan = r->result; /* freed on the loop thread, not here */
    r->result = st->answer;
    st->answer = NULL;
    return 0;
}

static void answer(hub_request *r, json_t *body, int replayed)
{
    if (replayed)
        hub_req_header(r, "idempotent-replayed", "true");
    hub_req_send_json(r, 202, body);
}

static void send_done(hub_request *r)
{
    send_state *st = r->scratch;
    if (r->op.result != 0) {
        hub_req_send_error(r, &r->err);
        return;
    }
    json_t *body = r->result;
    r->result = NULL;
    answer(r, body, st->replayed);
}

/* The idempotency key of the header and the body into st->key; -1 when answered. */
static int idempotency_key(hub_request *r, send_state *st)
{
    char hdr[HUB_IDEMPOTENCY_KEY_MAX + 1];
    int h = hub_req_header_copy(r, "idempotency-key", hdr, sizeof(hdr));
    const char *b = json_string_value(json_object_get(r->body, "idempotency_key"));
    if (h < 0 || (h == 1 && hdr[0] == '\0')) {
        hub_req_send_problem(r, 422, "Idempotency-Key must be 1 to 200 bytes", NULL);
        return -1;
    }
    if (h == 1 && b != NULL && strcmp(hdr, b) != 0) {
        hub_req_send_problem(
            r, 422, "the Idempotency-Key header and the body's idempotency_key differ", NULL);
        return -1;
    }
    const char *k = h == 1 ? hdr : b != NULL ? b : "";
    if (k[0] != '\0')
        snprintf(st->key, sizeof(st->key), "%zu:%s%s", strlen(r->principal.name), r->principal.name,
                 k);
    return 0;
}

/* SHA-256 of what the request asks for: journey, step and the body without the key. */
static int request_hash(hub_request *r, const char *journey, const char *step, send_state *st)
{
    json_t *b = json_deep_copy(r->body);
    json_object_del(b, "idempotency_key");
    json_t *all = json_pack("{s:s,s:s,s:o}", "journey", journey, "step", step, "body", b);
    char *text = all != NULL ? json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(all);
    int rc = text != NULL ? hub_sha256_hex(text, strlen(text), st->hash) : HUB_ENOMEM;
    free(text);
    return rc;
}

/* Answers from the stored record when the key was seen; 1 when answered. */
static int replay(hub_request *r, send_state *st)
{
    hub_txn *txn = NULL;
    json_t *stored = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_idem_lookup(txn, st->key, st->hash, hub_now_ms(), &stored);
    hub_txn_end(txn);
    if (rc == HUB_EINVAL) {
        hub_req_send_problem(r, 422, "the idempotency key was used with another request", NULL);
        return 1;
    }
    if (rc != 0)
        return 0;
    answer(r, stored, 1);
    return 1;
}

void hub_h_send(hub_request *r, const char *journey, const char *step)
{
    static const char *const none[] = {NULL};
    hub_problems p;
    char locale[HUB_LOCALE_TAG_MAX] = "";
    if (!hub_req_is(r, "POST")) {
        hub_req_method_not_allowed(r, "POST");
        return;
    }
    if (!hub_req_require(r, HUB_ROLE_DELIVERY) || hub_req_reject_unknown_params(r, none) ||
        hub_req_read_json(r, 1, 0) != 0)
        return;
    if (r->renderer == NULL || r->cfg->queue == NULL) {
        hub_req_send_problem(r, 503, "this hub has no channels or no delivery queue", NULL);
        return;
    }
    hub_problems_init(&p);
    check_body(r->body, &p);
    const char *loc =
        json_string_value(json_object_get(json_object_get(r->body, "recipient"), "locale"));
    hub_error e;
    hub_error_init(&e);
    if (p.count == 0 && loc != NULL && hub_locale_canonicalize(loc, strlen(loc), locale, &e) != 0)
        hub_problems_add(&p, "/recipient/locale", "%s", e.message);
    hub_error_clear(&e);
    if (p.count > 0) {
        hub_req_send_problem(r, 422, "the send request is not valid", &p);
        hub_problems_clear(&p);
        return;
    }
    hub_problems_clear(&p);
    send_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        hub_req_send_problem(r, 503, "out of memory", NULL);
        return;
    }
    r->scratch = st;
    r->scratch_free = send_state_free;
    if (idempotency_key(r, st) != 0)
        return;
    if (st->key[0] != '\0' && request_hash(r, journey, step, st) != 0) {
        hub_req_send_problem(r, 503, "out of memory", NULL);
        return;
    }
    if (st->key[0] != '\0' && replay(r, st))
        return;
    if (prepare(r, journey, step, locale) != 0)
        return;
    if (stage(r, st) != 0) {
        hub_req_send_problem(r, 503, "out of memory", NULL);
        return;
    }
    /* Answered once journaled: the send's own reads above need no other send's changes
     * (the writer checks the idempotency key and the assignment again in its transaction),
     * and every other request waits until LMDB holds them (server.c). */
    hub_req_write_as(r, send_txn, send_done, HUB_WRITE_JOURNAL);
}
