/*
 * template: the Liquid template language (Shopify Liquid semantics), compiled once and
 * rendered many times. No I/O: variables arrive as a jansson object, output goes into a
 * capped hub_buf, and `{% render 'name' %}` asks a caller-supplied resolver for the block.
 *
 * Language: {{ expr | filter: arg, ... }}, tags if/elsif/else, unless, case/when/else,
 * for (limit, offset, reversed, ranges, forloop.*, else, break, continue), assign, capture,
 * comment, {% # inline comment %}, raw, echo, render ('name', key: value, ... and
 * 'name' with expr [as alias]), whitespace control {%- -%} and {{- -}}. Filters: default,
 * upcase, downcase, capitalize, escape, escape_once, url_encode, strip_html, strip, lstrip,
 * rstrip, newline_to_br, truncate, truncatewords, replace, replace_first, remove,
 * remove_first, append, prepend, size, join, split, first, last, reverse, date, plus, minus,
 * times, divided_by, modulo, round, ceil, floor, abs, raw.
 *
 * Differences from Shopify worth knowing: upcase/downcase/capitalize change ASCII letters
 * only; a comparison between values of different kinds (a number and a string) is false
 * instead of an inline "Liquid error"; divided_by and modulo by zero are render errors;
 * {{ object }} prints the object as compact JSON.
 *
 * HTML escaping (options.escape_html): the value printed by {{ }} (and echo) is
 * HTML-escaped (& < > " ') unless its last filter was `raw` or `escape`/`escape_once` (the
 * value is already safe then, so it is not escaped twice). A variable assigned from a safe
 * value, and a {% capture %} (rendered output already), print as they are too, until another
 * filter changes them. Template text outside tags is never escaped; the output of a rendered
 * block is inserted as is (the block escapes its own {{ }} under the same options).
 *
 * Thread-safety: a compiled template is immutable; any number of threads may render it at
 * once. Compile and free are reentrant; there is no global state.
 */
#ifndef HUB_TEMPLATE_H
#define HUB_TEMPLATE_H

#include <jansson.h>
#include <stdint.h>

#include "base/base.h"

typedef struct hub_template hub_template;

/*
 * Compiles `len` bytes of Liquid source (need not be NUL-terminated; the bytes are copied,
 * the source may be freed after the call). On success *out is a new template, freed with
 * hub_template_free. Errors: HUB_EINVAL for a syntax error, with err->message
 * "line L, column C: <what>" (L and C count from 1, C in characters); HUB_ETOOBIG for a
 * source over 16 MiB or nesting deeper than HUB_TEMPLATE_MAX_NESTING; HUB_ENOMEM. *out is
 * NULL on error. err may be NULL.
 */
#define HUB_TEMPLATE_MAX_NESTING 100
int hub_template_compile(const char *src, size_t len, hub_template **out, hub_error *err);

/* Frees a compiled template; NULL-safe. No render of it may be running. */
void hub_template_free(hub_template *t);

/*
 * The names the template passes to {% render %}, in order of appearance and without
 * duplicates, so a publisher can check that every block exists. i < count; the slice is
 * borrowed from t and valid until hub_template_free.
 */
size_t hub_template_render_count(const hub_template *t);
hub_slice hub_template_render_name(const hub_template *t, size_t i);

/*
 * Resolves a {% render %} name to a compiled template. Returns 0 and sets *out to a template
 * that stays valid (borrowed) until the outer render returns, or a negative HUB_E* code
 * (HUB_ENOTFOUND for an unknown name), which ends the render with that code. Called from the
 * rendering thread; must be reentrant if renders run on several threads.
 */
typedef int (*hub_template_resolver)(void *ctx, const char *name, size_t len,
                                     const hub_template **out);

/* Limits against hostile templates; 0 in a field means the default in brackets. */
typedef struct hub_template_limits {
    size_t max_output;       /* bytes one render may append to out [1 MiB] */
    size_t max_memory;       /* working memory: assigns, captures, filter results [8 MiB] */
    uint64_t max_steps;      /* tags, outputs, filters and iterations run; bounds time [1e6] */
    uint64_t max_iterations; /* for-loop iterations in all loops together [100000] */
    unsigned max_depth;      /* nested {% render %} levels [8] */
} hub_template_limits;

typedef struct hub_template_options {
    int escape_html;               /* see the HTML escaping note above */
    int64_t now_ms;                /* "now"/"today" for the date filter; 0 = the wall clock */
    hub_template_resolver resolve; /* NULL: every {% render %} fails with HUB_ENOTFOUND */
    void *resolve_ctx;
    hub_template_limits limits;
} hub_template_options;

/*
 * Renders t with the variables of `vars` (borrowed, not modified; NULL or a non-object means
 * no variables) and appends the output to out. opts may be NULL (defaults, no escaping).
 * Unknown variables render as empty. Errors: HUB_ETOOBIG when a limit is exceeded (output,
 * memory, steps, iterations, depth) or out's own cap is reached; HUB_EINVAL for a runtime
 * error (divided by 0); the resolver's code for a {% render %} it cannot resolve;
 * HUB_ENOMEM. err->message says which. On error out is restored to its length before the
 * call. Thread-safe for a shared t as long as each call has its own out and err.
 */
int hub_template_render(const hub_template *t, const json_t *vars, const hub_template_options *opts,
                        hub_buf *out, hub_error *err);

#endif
