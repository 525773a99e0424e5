/*
 * The date filter: parses "now"/"today" (the render's clock, options.now_ms), Unix seconds
 * (numbers or digit strings), RFC 3339 timestamps and YYYY-MM-DD dates, and formats with a
 * strftime subset. A timestamp with an offset prints in that offset, as Ruby's Time.parse
 * does; everything else prints in UTC. Input it cannot read passes through unchanged.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct tm_parts {
    int64_t year;
    int mon, mday, hour, min, sec, yday, wday, offset_min;
    int64_t epoch;
} tm_parts;

static const char *const months[] = {"January",   "February", "March",    "April",
                                     "May",       "June",     "July",     "August",
                                     "September", "October",  "November", "December"};
static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                   "Thursday", "Friday", "Saturday"};

/* Days since 1970-01-01 to a civil date (proleptic Gregorian). */
static void civil(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void split_time(int64_t secs, int offset_min, tm_parts *t)
{
    static const int cum[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    t->epoch = secs;
    t->offset_min = offset_min;
    secs += (int64_t)offset_min * 60;
    int64_t day = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - day * 86400;
    civil(day, &t->year, &t->mon, &t->mday);
    t->hour = (int)(rem / 3600);
    t->min = (int)(rem / 60 % 60);
    t->sec = (int)(rem % 60);
    t->wday = (int)(((day % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    t->yday = cum[t->mon - 1] + t->mday + (t->mon > 2 && leap(t->year));
}

static bool all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return n > 0;
}

static int parse_offset(const char *s, size_t n)
{
    if (n >= 6 && (s[n - 6] == '+' || s[n - 6] == '-') && s[n - 3] == ':' &&
        all_digits(s + n - 5, 2) && all_digits(s + n - 2, 2)) {
        int m = ((s[n - 5] - '0') * 10 + (s[n - 4] - '0')) * 60 + (s[n - 2] - '0') * 10 +
                (s[n - 1] - '0');
        return s[n - 6] == '-' ? -m : m;
    }
    return 0;
}

static bool word_is(const char *p, size_t n, const char *w)
{
    if (strlen(w) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != w[i])
            return false;
    return true;
}

/* Reads the input as a moment; false when it is not one. */
static bool read_time(rctx *c, const val *v, tm_parts *t)
{
    if (v->k == V_INT || v->k == V_FLOAT) {
        double d = v_to_double(v);
        if (d < -1e13 || d > 1e13)
            return false;
        split_time((int64_t)d, 0, t);
        return true;
    }
    if (v->k != V_STR)
        return false;
    const char *s = v->s.p;
    size_t n = v->s.n;
    int64_t ms;
    if (word_is(s, n, "now") || word_is(s, n, "today")) {
        ms = c->st->now_ms != 0 ? c->st->now_ms : hub_now_ms();
        split_time(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000), 0, t);
        return true;
    }
    if (all_digits(s, n) && n < 14) {
        val num = v_to_number(v);
        split_time(num.i, 0, t);
        return true;
    }
    char buf[64];
    if (n == 10 && s[4] == '-' && s[7] == '-') { /* a date alone is midnight UTC */
        snprintf(buf, sizeof(buf), "%.10sT00:00:00Z", s);
        s = buf;
        n = strlen(buf);
    } else if (n > 19 && n < sizeof(buf) && s[10] == ' ') { /* "2026-11-23 10:00:00Z" */
        memcpy(buf, s, n);
        buf[10] = 'T';
        s = buf;
    }
    if (hub_time_parse(s, n, &ms) != 0)
        return false;
    split_time(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000), parse_offset(s, n), t);
    return true;
}

/* A numeric conversion: its value, width and padding ('0' or ' '); false if not one. */
static bool numeric(char spec, const tm_parts *t, long long *num, int *width, char *pad)
{
    int hour12 = t->hour % 12 == 0 ? 12 : t->hour % 12;
    *width = 2;
    *pad = '0';
    switch (spec) {
    case 'Y':
        *num = (long long)t->year;
        *width = 1;
        return true;
    case 'y':
        *num = (long long)(((t->year % 100) + 100) % 100);
        return true;
    case 'm':
        *num = t->mon;
        return true;
    case 'd':
    case 'e':
        *num = t->mday;
        *pad = spec == 'e' ? ' ' : '0';
        return true;
    case 'H':
        *num = t->hour;
        return true;
    case 'I':
    case 'l':
        *num = hour12;
        *pad = spec == 'l' ? ' ' : '0';
        return true;
    case 'M':
        *num = t->min;
        return true;
    case 'S':
        *num = t->sec;
        return true;
    case 'j':
        *num = t->yday;
        *width = 3;
        return true;
    case 'u':
    case 'w':
        *num = spec == 'u' && t->wday == 0 ? 7 : t->wday;
        *width = 1;
        return true;
    case 's':
        *num = (long long)t->epoch;
        *width = 1;
        return true;
    default:
        return false;
    }
}

/* A conversion that prints words or a composite; false if not one. */
static bool textual(char spec, const tm_parts *t, char *buf, size_t cap)
{
    int o = t->offset_min < 0 ? -t->offset_min : t->offset_min;
    int yy = (int)(((t->year % 100) + 100) % 100);
    if (spec == 'B' || spec == 'b' || spec == 'h')
        snprintf(buf, cap, "%.*s", spec == 'B' ? 9 : 3, months[t->mon - 1]);
    else if (spec == 'A' || spec == 'a')
        snprintf(buf, cap, "%.*s", spec == 'A' ? 9 : 3, days[t->wday]);
    else if (spec == 'p' || spec == 'P')
        snprintf(buf, cap, "%s",
                 t->hour < 12 ? (spec == 'p' ? "AM" : "am") : (spec == 'p' ? "PM" : "pm"));
    else if (spec == 'F')
        snprintf(buf, cap, "%04lld-%02d-%02d", (long long)t->year, t->mon, t->mday);
    else if (spec == 'T' || spec == 'R')
        snprintf(buf, cap, spec == 'T' ? "%02d:%02d:%02d" : "%02d:%02d", t->hour, t->min, t->sec);
    else if (spec == 'D')
        snprintf(buf, cap, "%02d/%02d/%02d", t->mon, t->mday, yy);
    else if (spec == 'z')
        snprintf(buf, cap, "%c%02d%02d", t->offset_min < 0 ? '-' : '+', o / 60, o % 60);
    else if (spec == 'Z')
        snprintf(buf, cap, "%s", t->offset_min == 0 ? "UTC" : "");
    else if (spec == '%')
        snprintf(buf, cap, "%%");
    else
        return false;
    return true;
}

/* One conversion; returns false for an unknown one (printed as written). */
static bool conv(sbuf *b, char spec, bool nopad, const tm_parts *t, int *rc)
{
    char buf[64];
    long long num;
    int width;
    char pad;
    if (numeric(spec, t, &num, &width, &pad)) {
        if (nopad)
            width = 1;
        if (pad == '0')
            snprintf(buf, sizeof(buf), "%0*lld", width, num);
        else
            snprintf(buf, sizeof(buf), "%*lld", width, num);
    } else if (!textual(spec, t, buf, sizeof(buf))) {
        return false;
    }
    *rc = sb_add(b, buf, strlen(buf));
    return true;
}

int filter_date(rctx *c, val *v, const val *args, size_t nargs)
{
    const char *f;
    size_t fn;
    tm_parts t;
    sbuf b;
    int rc = v_to_str(c, &args[0], &f, &fn);
    if (rc != 0 || fn == 0 || !read_time(c, v, &t))
        return rc;
    if ((rc = sb_init(&b, c, fn * 2)) != 0)
        return rc;
    for (size_t i = 0; i < fn && rc == 0; i++) {
        if (f[i] != '%' || i + 1 >= fn) {
            rc = sb_add(&b, f + i, 1);
            continue;
        }
        size_t j = i + 1;
        bool nopad = f[j] == '-';
        if (nopad && j + 1 < fn)
            j++;
        if (!conv(&b, f[j], nopad, &t, &rc)) {
            rc = sb_add(&b, f + i, j + 1 - i);
        }
        i = j;
    }
    if (rc == 0)
        *v = sb_val(&b);
    return rc;
}
