/*
 * Liquid compile errors (with line and column), {% render %} through a resolver, the
 * limits against hostile templates (each must end with an error quickly), output restore
 * on error, and one compiled template rendered from several threads at once.
 */
#include <jansson.h>
#include <pthread.h>
#include <time.h>

#include "template/template.h"
#include "test.h"

static void expect_compile_error(const char *src, int code, const char *msg)
{
    hub_template *t = (hub_template *)1;
    hub_error err;
    hub_error_init(&err);
    int rc = hub_template_compile(src, strlen(src), &t, &err);
    CHECK(t == NULL);
    if (rc != code || strcmp(err.message, msg) != 0) {
        fprintf(stderr, "template %s\n", src);
        CHECK(rc == code);
        CHECK_STR(err.message, msg);
    }
    hub_error_clear(&err);
}

static void test_syntax_errors(void)
{
    expect_compile_error("{{ x", HUB_EINVAL, "line 1, column 1: '{{' output was not closed");
    expect_compile_error("ab\ncd {% if x", HUB_EINVAL, "line 2, column 4: '{%' tag was not closed");
    expect_compile_error("{% if x %}\n{% for a in b %}", HUB_EINVAL,
                         "line 2, column 4: 'for' tag was never closed");
    expect_compile_error("{% if x %}yes", HUB_EINVAL,
                         "line 1, column 4: 'if' tag was never closed");
    expect_compile_error("{% if x %}{% endfor %}", HUB_EINVAL,
                         "line 1, column 14: 'endfor' does not close 'if'");
    expect_compile_error("x\n  {% frobnicate %}", HUB_EINVAL,
                         "line 2, column 6: unknown tag 'frobnicate'");
    expect_compile_error("{{ x | nosuch }}", HUB_EINVAL,
                         "line 1, column 8: unknown filter 'nosuch'");
    expect_compile_error("é{{ x | upcase: 1 }}", HUB_EINVAL,
                         "line 1, column 9: filter 'upcase' takes 0 arguments, not 1");
    expect_compile_error("{{ x | replace }}", HUB_EINVAL,
                         "line 1, column 8: filter 'replace' takes 1 to 2 arguments, not 0");
    expect_compile_error("{{ x y }}", HUB_EINVAL,
                         "line 1, column 6: expected the end of the tag, found 'y'");
    expect_compile_error("{{ x. }}", HUB_EINVAL,
                         "line 1, column 7: expected a name after '.', found the end of the tag");
    expect_compile_error("{{ 'abc }}", HUB_EINVAL,
                         "line 1, column 4: expected a value, found an unexpected character '''");
    expect_compile_error("{% assign = 1 %}", HUB_EINVAL,
                         "line 1, column 11: expected a variable name after 'assign', found an "
                         "unexpected character '='");
    expect_compile_error("{% assign x 1 %}", HUB_EINVAL,
                         "line 1, column 13: expected '=', found '1'");
    expect_compile_error("{% for x on y %}{% endfor %}", HUB_EINVAL,
                         "line 1, column 10: expected 'in', found 'on'");
    expect_compile_error("{% break %}", HUB_EINVAL, "line 1, column 4: 'break' outside a for loop");
    expect_compile_error("{% if x %}{% else %}{% else %}{% endif %}", HUB_EINVAL,
                         "line 1, column 24: unknown tag 'else'");
    expect_compile_error("{% raw %}abc", HUB_EINVAL,
                         "line 1, column 4: 'raw' tag was never closed (expected endraw)");
    expect_compile_error("{% comment %}abc", HUB_EINVAL,
                         "line 1, column 4: 'comment' tag was never closed (expected endcomment)");
    expect_compile_error("{% render x %}", HUB_EINVAL,
                         "line 1, column 11: expected a quoted template name after 'render', found "
                         "'x'");
    expect_compile_error("{{ x | truncate: n: 1 }}", HUB_EINVAL,
                         "line 1, column 18: named filter arguments are not supported");
    expect_compile_error("{{ (1..) }}", HUB_EINVAL,
                         "line 1, column 8: expected a value, found ')'");
}

/* Compiles src or fails the test. */
static hub_template *compile(const char *src)
{
    hub_template *t = NULL;
    hub_error err;
    hub_error_init(&err);
    if (hub_template_compile(src, strlen(src), &t, &err) != 0)
        fprintf(stderr, "compile %s: %s\n", src, err.message);
    hub_error_clear(&err);
    return t;
}

/* A resolver over a small table of named sources compiled on first use. */
typedef struct blocks {
    const char *names[8];
    const char *srcs[8];
    hub_template *compiled[8];
} blocks;

static int resolve(void *ctx, const char *name, size_t len, const hub_template **out)
{
    blocks *b = ctx;
    for (int i = 0; i < 8 && b->names[i] != NULL; i++) {
        if (strlen(b->names[i]) == len && memcmp(b->names[i], name, len) == 0) {
            if (b->compiled[i] == NULL)
                b->compiled[i] = compile(b->srcs[i]);
            *out = b->compiled[i];
            return *out != NULL ? 0 : HUB_EINVAL;
        }
    }
    return HUB_ENOTFOUND;
}

static void blocks_free(blocks *b)
{
    for (int i = 0; i < 8; i++)
        hub_template_free(b->compiled[i]);
}

/* Renders src; returns the code, output in *out (static), message in msg. */
static int run(const char *src, const char *vars, hub_template_options *o, char *msg,
               const char **outp)
{
    static char result[1 << 16];
    hub_template *t = compile(src);
    if (t == NULL)
        return 1;
    json_t *v = vars != NULL ? json_loads(vars, 0, NULL) : NULL;
    hub_error err;
    hub_error_init(&err);
    hub_buf out;
    hub_buf_init(&out, 64 << 20);
    hub_buf_append_str(&out, "pre:");
    int rc = hub_template_render(t, v, o, &out, &err);
    snprintf(result, sizeof(result), "%s", out.data);
    if (msg != NULL)
        snprintf(msg, 256, "%s", err.message);
    if (outp != NULL)
        *outp = result;
    if (rc != 0 && strcmp(out.data, "pre:") != 0)
        CHECK(!"output not restored after an error");
    hub_buf_free(&out);
    hub_error_clear(&err);
    json_decref(v);
    hub_template_free(t);
    return rc;
}

static void test_render_tag(void)
{
    blocks b = {
        .names = {"blocks/footer", "greet", "loop", "a", "b", "count", "bad"},
        .srcs = {"[footer {{ name }}|{{ secret }}]", "Hi {{ who | upcase }}{{ greet }}",
                 "{% render 'loop' %}", "A{% render 'b' %}", "B{% render 'a' %}",
                 "{% for i in (1..3) %}{{ i }}{% endfor %}{{ forloop.index }}", "{{ x | nosuch }}"},
    };
    hub_template_options o = {.resolve = resolve, .resolve_ctx = &b};
    const char *out;
    char msg[256];
    /* The block sees the render's variables but not the caller's assigns. */
    CHECK(run("{% assign secret = 's' %}{% render 'blocks/footer' %}", "{\"name\":\"N\"}", &o, msg,
              &out) == 0);
    CHECK_STR(out, "pre:[footer N|]");
    CHECK(run("{% render 'greet', who: name %}", "{\"name\":\"ann\"}", &o, msg, &out) == 0);
    CHECK_STR(out, "pre:Hi ANN");
    CHECK(run("{% render 'greet' with 'x' as who %}", NULL, &o, msg, &out) == 0);
    CHECK_STR(out, "pre:Hi X");
    CHECK(run("{% render 'greet' with 'y' %}", NULL, &o, msg, &out) == 0);
    CHECK_STR(out, "pre:Hi y");
    CHECK(run("{% for x in (1..2) %}{% render 'count' %}{% endfor %}", NULL, &o, msg, &out) == 0);
    CHECK_STR(out, "pre:123123");
    CHECK(run("{% render 'loop' %}", NULL, &o, msg, NULL) == HUB_ETOOBIG);
    CHECK_STR(msg, "line 1: render 'loop': blocks nested deeper than 8");
    CHECK(run("{% render 'a' %}", NULL, &o, msg, NULL) == HUB_ETOOBIG);
    CHECK(run("x{% render 'nope' %}", NULL, &o, msg, NULL) == HUB_ENOTFOUND);
    CHECK_STR(msg, "line 1: render 'nope': not found");
    CHECK(run("{% render 'bad' %}", NULL, &o, msg, NULL) == HUB_EINVAL);
    CHECK(run("{% render 'greet' %}", NULL, NULL, msg, NULL) == HUB_ENOTFOUND);
    hub_template *t = compile("{% render 'a' %}{% render 'b' %}{% render 'a' %}");
    REQUIRE(t != NULL);
    CHECK(hub_template_render_count(t) == 2);
    CHECK(hub_slice_eq(hub_template_render_name(t, 1), "b"));
    hub_template_free(t);
    blocks_free(&b);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each hostile template must fail with the code and within a second. */
static void hostile(const char *src, hub_template_options *o, int code, const char *msg_start)
{
    char msg[256] = "";
    double t0 = now_s();
    int rc = run(src, "{\"big\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", o,
                 msg, NULL);
    double took = now_s() - t0;
    if (rc != code || strncmp(msg, msg_start, strlen(msg_start)) != 0 || took > 1.0) {
        fprintf(stderr, "hostile %s: rc %d, %.3fs, %s\n", src, rc, took, msg);
        CHECK(rc == code);
        CHECK(strncmp(msg, msg_start, strlen(msg_start)) == 0);
        CHECK(took <= 1.0);
    }
}

static void test_hostile(void)
{
    hub_template_options o = {0};
    hostile("{% for i in (1..1000000000) %}{% endfor %}", &o, HUB_ETOOBIG,
            "line 1: more than 100000 loop iterations");
    hostile("{% for a in (1..1000) %}{% for b in (1..1000) %}{{ a }}{% endfor %}{% endfor %}", &o,
            HUB_ETOOBIG, "line 1: more than 100000 loop iterations");
    hostile("{% for i in (1..100000) %}{{ big }}{% endfor %}", &o, HUB_ETOOBIG,
            "line 1: output over 1048576 bytes");
    hostile("{% assign s = big %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}",
            &o, HUB_ETOOBIG, "line 1: template needs more than 8388608 bytes of working memory");
    hub_template_options many = {.limits = {.max_iterations = 1000000000}};
    hostile("{% for i in (1..1000000000) %}{% assign x = i %}{% endfor %}", &many, HUB_ETOOBIG,
            "line 1: template ran more than 1000000 steps");
    hostile("{% assign s = big | append: big | append: big %}{% for i in (1..99999) %}"
            "{{ s | replace: 'x', 'y' | size }}{% endfor %}",
            &o, HUB_ETOOBIG, "line 1: template ran more than");
    hostile("{% capture c %}{% for i in (1..100000) %}{{ big }}{% endfor %}{% endcapture %}", &o,
            HUB_ETOOBIG, "line 1: output over");
    hostile("{{ 1 | divided_by: 0 }}", &o, HUB_EINVAL, "line 1: divided by 0");
    hostile("\n\n{{ 1 | modulo: 0 }}", &o, HUB_EINVAL, "line 3: divided by 0");
    hub_template_options small = {.limits = {.max_output = 10}};
    hostile("{{ big }}", &small, HUB_ETOOBIG, "line 1: output over 10 bytes");
}

static void test_deep_nesting(void)
{
    /* Deep nesting fails at compile time, before anything could recurse at render. */
    size_t depth = 5000, n = 0;
    char *src = malloc(depth * 20);
    REQUIRE(src != NULL);
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(src + n, "{%% if x %%}");
    hub_template *t = NULL;
    hub_error err;
    hub_error_init(&err);
    CHECK(hub_template_compile(src, n, &t, &err) == HUB_ETOOBIG);
    CHECK_STR(err.message, "line 1, column 1004: blocks nested deeper than 100");
    n = 0;
    for (size_t i = 0; i < 200; i++)
        n += (size_t)sprintf(src + n, "{{ a");
    for (size_t i = 0; i < 200; i++)
        n += (size_t)sprintf(src + n, "[b");
    CHECK(hub_template_compile(src, n, &t, &err) != 0);
    n = (size_t)sprintf(src, "{{ a");
    for (size_t i = 0; i < 200; i++)
        n += (size_t)sprintf(src + n, "[b");
    for (size_t i = 0; i < 200; i++)
        n += (size_t)sprintf(src + n, "]");
    n += (size_t)sprintf(src + n, " }}");
    CHECK(hub_template_compile(src, n, &t, &err) == HUB_ETOOBIG);
    n = (size_t)sprintf(src, "{%% if a");
    for (size_t i = 0; i < 100; i++)
        n += (size_t)sprintf(src + n, " or a");
    n += (size_t)sprintf(src + n, " %%}{%% endif %%}");
    CHECK(hub_template_compile(src, n, &t, &err) == HUB_ETOOBIG);
    n = 0;
    for (size_t i = 0; i < 5000; i++) /* distinct names are capped: lookups stay cheap */
        n += (size_t)sprintf(src + n, "{{ v%zu }}", i);
    CHECK(hub_template_compile(src, n, &t, &err) == HUB_ETOOBIG);
    CHECK(strstr(err.message, "more than 4096 variable names") != NULL);
    free(src);
    hub_error_clear(&err);

    /* The caller's own buffer cap also ends the render cleanly. */
    hub_buf out;
    hub_buf_init(&out, 8);
    t = compile("{{ 'more than eight bytes' }}");
    REQUIRE(t != NULL);
    hub_error_init(&err);
    CHECK(hub_template_render(t, NULL, NULL, &out, &err) == HUB_ETOOBIG);
    CHECK(out.len == 0);
    hub_error_clear(&err);
    hub_buf_free(&out);
    hub_template_free(t);
}

typedef struct job {
    const hub_template *t;
    json_t *vars;
    int failures;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    hub_buf out;
    hub_buf_init(&out, 1 << 16);
    for (int i = 0; i < 2000; i++) {
        hub_buf_reset(&out);
        if (hub_template_render(j->t, j->vars, NULL, &out, NULL) != 0 ||
            strcmp(out.data, "Hi ADA: 1,2,3,|6") != 0)
            j->failures++;
    }
    hub_buf_free(&out);
    return NULL;
}

static void test_threads(void)
{
    hub_template *t = compile("Hi {{ name | upcase }}: {% assign s = 0 %}{% for x in list %}"
                              "{{ x }},{% assign s = s | plus: x %}{% endfor %}|{{ s }}");
    REQUIRE(t != NULL);
    json_t *vars = json_loads("{\"name\":\"Ada\",\"list\":[1,2,3]}", 0, NULL);
    pthread_t th[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){t, vars, 0};
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].failures == 0);
    }
    json_decref(vars);
    hub_template_free(t);
}

int main(void)
{
    RUN(test_syntax_errors);
    RUN(test_render_tag);
    RUN(test_hostile);
    RUN(test_deep_nesting);
    RUN(test_threads);
    return TEST_SUMMARY();
}
