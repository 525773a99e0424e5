/*
 * http/h_reports.c: GET /v1/reports/items/{key}?from=&to= and
 * GET /v1/reports/attribution?action=&model=&window_days=&half_life_days=&from=&to=
 * (core/analytics/reports.c computes them; docs/reports.md explains them). from and to are
 * RFC 3339 times or dates (YYYY-MM-DD; a date as `to` means the end of that day).
 */
#include "http/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

/* A time parameter into *ms (-1 when absent). end: a bare date means its last millisecond.
 * Sends 400 and returns -1 when bad. */
static int time_param(hub_request *r, const char *name, int end, int64_t *ms)
{
    const char *v = hub_req_param(r, name);
    char full[40], detail[120];
    *ms = -1;
    if (v == NULL || v[0] == '\0')
        return 0;
    size_t n = strlen(v);
    if (n == 10 && snprintf(full, sizeof(full), "%sT00:00:00Z", v) > 0 &&
        hub_time_parse(full, strlen(full), ms) == 0) {
        if (end)
            *ms += DAY_MS - 1;
        return 0;
    }
    if (hub_time_parse(v, n, ms) == 0 && *ms >= 0)
        return 0;
    snprintf(detail, sizeof(detail), "%s must be an RFC 3339 time or a date (YYYY-MM-DD)", name);
    hub_req_send_problem(r, 400, detail, NULL);
    return -1;
}

static int range_params(hub_request *r, int64_t *from, int64_t *to)
{
    if (time_param(r, "from", 0, from) != 0 || time_param(r, "to", 1, to) != 0)
        return -1;
    if (*from >= 0 && *to >= 0 && *from > *to) {
        hub_req_send_problem(r, 400, "from is after to", NULL);
        return -1;
    }
    return 0;
}

static void item_report(hub_request *r)
{
    static const char *const known[] = {"from", "to", NULL};
    char key[HUB_ITEM_KEY_MAX + 1];
    int64_t from, to;
    hub_txn *txn = NULL;
    json_t *out = NULL;
    if (hub_req_reject_unknown_params(r, known) || range_params(r, &from, &to) != 0)
        return;
    size_t n = hub_req_join_segs(r, 2, r->nsegs, key, sizeof(key));
    if (n == 0 || n == SIZE_MAX) {
        hub_req_send_problem(r, 404, "no such item", NULL);
        return;
    }
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_report_item(txn, key, from, to, &out);
    hub_txn_end(txn);
    hub_req_send_one(r, rc, out, "cannot compute the report", "no item '%.200s'", key);
}

/* An integer or decimal parameter in [lo, hi] (default dflt). Sends 400 and returns -1. */
static int number_param(hub_request *r, const char *name, double lo, double hi, double dflt,
                        double *out)
{
    const char *v = hub_req_param(r, name);
    char *end = NULL, detail[120];
    *out = dflt;
    if (v == NULL)
        return 0;
    double d = strtod(v, &end);
    /* plain decimals only: strtod would also take hex, exponents, spaces and "inf" */
    int plain = v[0] != '\0' && strspn(v, "0123456789.") == strlen(v);
    if (plain && end != NULL && *end == '\0' && isfinite(d) && d >= lo && d <= hi) {
        *out = d;
        return 0;
    }
    snprintf(detail, sizeof(detail), "%s must be a number from %g to %g", name, lo, hi);
    hub_req_send_problem(r, 400, detail, NULL);
    return -1;
}

static void attribution(hub_request *r)
{
    static const char *const known[] = {"action",         "model", "window_days", "from",
                                        "half_life_days", "to",    NULL};
    hub_attribution_query q;
    double window, half;
    hub_txn *txn = NULL;
    json_t *out = NULL;
    hub_error err;
    if (hub_req_reject_unknown_params(r, known))
        return;
    q.action = hub_req_param(r, "action");
    q.model = hub_req_param(r, "model");
    if (q.action == NULL || strncmp(q.action, "action/", 7) != 0 ||
        strlen(q.action) > HUB_TERM_MAX) {
        hub_req_send_problem(r, 400, "action is required: an action/ taxonomy term", NULL);
        return;
    }
    if (q.model == NULL)
        q.model = "last_touch";
    if (number_param(r, "window_days", 1, 365, 30, &window) != 0 ||
        number_param(r, "half_life_days", 0.01, 365, 7, &half) != 0 ||
        range_params(r, &q.from_ms, &q.to_ms) != 0)
        return;
    if (window != floor(window)) {
        hub_req_send_problem(r, 400, "window_days must be a whole number of days", NULL);
        return;
    }
    q.window_days = (int)window;
    q.half_life_days = half;
    hub_error_init(&err);
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_report_attribution(txn, &q, &out, &err);
    hub_txn_end(txn);
    if (rc == HUB_EINVAL)
        hub_req_send_problem(r, 400, err.message, NULL);
    else if (rc != 0)
        hub_req_send_error(r, &err);
    else
        hub_req_send_json(r, 200, out);
    hub_error_clear(&err);
}

void hub_h_reports(hub_request *r)
{
    if (!hub_req_is(r, "GET")) {
        hub_req_method_not_allowed(r, "GET");
        return;
    }
    if (!hub_req_require(r, HUB_ROLE_DELIVERY))
        return;
    if (r->nsegs >= 3 && strcmp(r->segs[1], "items") == 0)
        item_report(r);
    else if (r->nsegs == 2 && strcmp(r->segs[1], "attribution") == 0)
        attribution(r);
    else
        hub_req_send_problem(r, 404, "no such report (items/{key} or attribution)", NULL);
}
