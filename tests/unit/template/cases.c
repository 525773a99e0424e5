/*
 * Liquid behaviour, case by case: each row is a template, its variables as JSON, and the
 * output Shopify Liquid gives (checked against Shopify's documented behaviour). Rows are
 * grouped per tag and per filter.
 */
#include <jansson.h>

#include "template/template.h"
#include "test.h"

typedef struct row {
    const char *src, *vars, *want;
} row;

static const char *vars_all =
    "{\"name\":\"Ada\",\"n\":7,\"f\":2.5,\"t\":true,\"no\":false,\"nil\":null,\"s\":\"\","
    "\"list\":[1,2,3],\"words\":[\"a\",\"b\",\"c\"],\"user\":{\"name\":\"Bo\",\"tags\":[\"x\","
    "\"y\"],\"age\":30},\"html\":\"<b>hi</b> & 'you'\",\"empty\":[],\"obj\":{}}";

static void check_rows(const row *rows, size_t n, int escape)
{
    for (size_t i = 0; i < n; i++) {
        hub_template *t = NULL;
        hub_error err;
        hub_error_init(&err);
        int rc = hub_template_compile(rows[i].src, strlen(rows[i].src), &t, &err);
        if (rc != 0) {
            fprintf(stderr, "compile %s: %s\n", rows[i].src, err.message);
            CHECK(rc == 0);
            continue;
        }
        json_t *vars = json_loads(rows[i].vars ? rows[i].vars : vars_all, 0, NULL);
        CHECK(vars != NULL);
        hub_template_options o = {.escape_html = escape, .now_ms = 1795000000000LL};
        hub_buf out;
        hub_buf_init(&out, 1 << 20);
        rc = hub_template_render(t, vars, &o, &out, &err);
        if (rc != 0)
            fprintf(stderr, "render %s: %s\n", rows[i].src, err.message);
        CHECK(rc == 0);
        if (rc == 0 && strcmp(out.data ? out.data : "", rows[i].want) != 0) {
            fprintf(stderr, "template %s\n", rows[i].src);
            CHECK_STR(out.data ? out.data : "", rows[i].want);
        }
        hub_buf_free(&out);
        json_decref(vars);
        hub_template_free(t);
        hub_error_clear(&err);
    }
}

#define ROWS(r) check_rows(r, sizeof(r) / sizeof(r[0]), 0)

static void test_output(void)
{
    static const row r[] = {
        {"plain text", NULL, "plain text"},
        {"{{ name }}", NULL, "Ada"},
        {"{{name}}!", NULL, "Ada!"},
        {"{{ user.name }} {{ user['name'] }} {{ user[\"age\"] }}", NULL, "Bo Bo 30"},
        {"{{ list[0] }}{{ list[-1] }}{{ list[9] }}", NULL, "13"},
        {"{{ user.tags[1] }}", NULL, "y"},
        {"{{ list.size }} {{ list.first }} {{ list.last }} {{ name.size }}", NULL, "3 1 3 3"},
        {"{{ user.size }}", NULL, "3"},
        {"[{{ missing }}][{{ missing.deep.er }}][{{ nil }}]", NULL, "[][][]"},
        {"{{ t }} {{ no }} {{ n }} {{ f }}", NULL, "true false 7 2.5"},
        {"{{ list }}", NULL, "123"},
        {"{{ obj }}", NULL, "{}"},
        {"{{ 'lit' }} {{ \"dq\" }} {{ 42 }} {{ -3 }} {{ 1.50 }}", NULL, "lit dq 42 -3 1.5"},
        {"{{ (1..3) }}", NULL, "1..3"},
        {"{{ }}x", NULL, "x"},
        {"{% assign k = 'name' %}{{ user[k] }}", NULL, "Bo"},
        {"{{ words[list[0]] }}", NULL, "b"},
        {"{% echo name | upcase %}", NULL, "ADA"},
        {"a {{- name -}} b", NULL, "aAdab"},
        {"a\n  {%- if t -%}\n  x\n  {%- endif -%}\n  b", NULL, "axb"},
        {"{{ 'é' | size }}", NULL, "1"},
        {"{{ 0.1 | plus: 0.2 }}", NULL, "0.30000000000000004"},

    };
    ROWS(r);
}

static void test_if(void)
{
    static const row r[] = {
        {"{% if t %}y{% endif %}", NULL, "y"},
        {"{% if no %}y{% else %}n{% endif %}", NULL, "n"},
        {"{% if nil %}y{% elsif n == 7 %}seven{% else %}n{% endif %}", NULL, "seven"},
        {"{% if s %}empty string is truthy{% endif %}", NULL, "empty string is truthy"},
        {"{% if 0 %}zero is truthy{% endif %}", NULL, "zero is truthy"},
        {"{% if missing %}y{% else %}n{% endif %}", NULL, "n"},
        {"{% if n > 5 and n < 10 %}y{% endif %}", NULL, "y"},
        {"{% if n >= 7 and n <= 7 and n != 8 %}y{% endif %}", NULL, "y"},
        {"{% if n == 7.0 %}y{% endif %}", NULL, "y"},
        {"{% if f > 2 %}y{% endif %}", NULL, "y"},
        {"{% if name == 'Ada' %}y{% endif %}", NULL, "y"},
        {"{% if name <> 'Ada' %}y{% else %}n{% endif %}", NULL, "n"},
        {"{% if 'b' > 'a' %}y{% endif %}", NULL, "y"},
        {"{% if name contains 'd' %}y{% endif %}", NULL, "y"},
        {"{% if words contains 'b' %}y{% endif %}", NULL, "y"},
        {"{% if list contains 2 %}y{% endif %}", NULL, "y"},
        {"{% if list contains '2' %}y{% else %}n{% endif %}", NULL, "n"},
        {"{% if user contains 'age' %}y{% endif %}", NULL, "y"},
        {"{% if false or true %}y{% endif %}", NULL, "y"},
        /* right to left: true or (false and false) */
        {"{% if true or false and false %}y{% else %}n{% endif %}", NULL, "y"},
        /* false and (true or true) */
        {"{% if false and true or true %}y{% else %}n{% endif %}", NULL, "n"},
        {"{% if n == '7' %}y{% else %}n{% endif %}", NULL, "n"},
        {"{% if n < 'x' %}y{% else %}n{% endif %}", NULL, "n"},
        {"{% if s == empty %}y{% endif %}{% if empty == empty %}z{% endif %}", NULL, "yz"},
        {"{% if list == empty %}y{% else %}n{% endif %}", NULL, "n"},
        {"{% if nil == blank %}a{% endif %}{% if ' ' == blank %}b{% endif %}", NULL, "ab"},
        {"{% if nil == null %}y{% endif %}", NULL, "y"},
        {"{% if user.tags.size == 2 %}y{% endif %}", NULL, "y"},
        {"{% unless t %}y{% else %}n{% endunless %}", NULL, "n"},
        {"{% unless no %}y{% endunless %}", NULL, "y"},
        {"{% unless t %}a{% elsif t %}b{% endunless %}", NULL, "b"},
        {"{% if t %}{% if no %}a{% else %}b{% endif %}{% endif %}", NULL, "b"},
    };
    ROWS(r);
}

static void test_case(void)
{
    static const row r[] = {
        {"{% case n %}{% when 1 %}one{% when 7 %}seven{% else %}other{% endcase %}", NULL, "seven"},
        {"{% case name %}{% when 'Bo', 'Ada' %}known{% endcase %}", NULL, "known"},
        {"{% case name %}{% when 'x' or 'Ada' %}known{% endcase %}", NULL, "known"},
        {"{% case n %}{% when 1 %}one{% else %}other{% endcase %}", NULL, "other"},
        {"{% case n %} ignored {% when 7 %}a{% when 7 %}b{% endcase %}", NULL, "ab"},
        {"{% case missing %}{% when nil %}nil{% endcase %}", NULL, "nil"},
    };
    ROWS(r);
}

static void test_for(void)
{
    static const row r[] = {
        {"{% for x in list %}{{ x }},{% endfor %}", NULL, "1,2,3,"},
        {"{% for x in list reversed %}{{ x }}{% endfor %}", NULL, "321"},
        {"{% for x in list limit: 2 %}{{ x }}{% endfor %}", NULL, "12"},
        {"{% for x in list offset: 1 %}{{ x }}{% endfor %}", NULL, "23"},
        {"{% for x in list limit: 1 offset: 1 %}{{ x }}{% endfor %}", NULL, "2"},
        {"{% for x in list offset: 1 limit: 5 reversed %}{{ x }}{% endfor %}", NULL, "32"},
        {"{% for i in (1..4) %}{{ i }}{% endfor %}", NULL, "1234"},
        {"{% for i in (n..9) %}{{ i }}{% endfor %}", NULL, "789"},
        {"{% for i in (3..1) %}{{ i }}{% else %}none{% endfor %}", NULL, "none"},
        {"{% for x in empty %}{{ x }}{% else %}none{% endfor %}", NULL, "none"},
        {"{% for x in missing %}{{ x }}{% else %}none{% endfor %}", NULL, "none"},
        {"{% for x in words %}{{ forloop.index }}{{ forloop.index0 }}{{ forloop.rindex }}"
         "{{ forloop.rindex0 }}{{ forloop.first }}{{ forloop.last }}{{ forloop.length }} "
         "{% endfor %}",
         NULL, "1032truefalse3 2121falsefalse3 3210falsetrue3 "},
        {"{% for a in (1..2) %}{% for b in (1..2) %}{{ forloop.parentloop.index }}{{ b }} "
         "{% endfor %}{% endfor %}",
         NULL, "11 12 21 22 "},
        {"{% for x in list %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", NULL, "1"},
        {"{% for x in list %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}", NULL,
         "13"},
        {"{% for x in list %}{% endfor %}[{{ x }}]", NULL, "[]"},
        {"{% for p in user %}{{ p[0] }}={{ p[1] }};{% endfor %}", "{\"user\":{\"a\":1,\"b\":2}}",
         "a=1;b=2;"},
        {"{% for w in 'one' %}{{ w }}{% endfor %}", NULL, "one"},
        {"{% for x in user.tags %}{{ x }}{% unless forloop.last %}, {% endunless %}{% endfor %}",
         NULL, "x, y"},
        {"{% assign lim = 2 %}{% for x in list limit: lim %}{{ x }}{% endfor %}", NULL, "12"},
    };
    ROWS(r);
}

static void test_assign_capture(void)
{
    static const row r[] = {
        {"{% assign x = 'hi' %}{{ x }}", NULL, "hi"},
        {"{% assign x = name | upcase | append: '!' %}{{ x }}", NULL, "ADA!"},
        {"{% assign name = 'Eve' %}{{ name }}", NULL, "Eve"},
        {"{% for i in (1..3) %}{% assign last = i %}{% endfor %}{{ last }}", NULL, "3"},
        {"{% assign total = 0 %}{% for x in list %}{% assign total = total | plus: x %}"
         "{% endfor %}{{ total }}",
         NULL, "6"},
        {"{% capture c %}Hi {{ name }}{% endcapture %}[{{ c }}]", NULL, "[Hi Ada]"},
        {"{% capture c %}{% for x in list %}{{ x }}{% endfor %}{% endcapture %}{{ c | size }}",
         NULL, "3"},
        {"{% assign f = forloop %}{% for x in list %}{% assign f = forloop %}{% endfor %}"
         "{{ f.index }}",
         NULL, "3"},
        {"{% comment %}gone {{ x }} {% if %}{% endcomment %}kept", NULL, "kept"},
        {"{% comment %}a{% comment %}b{% endcomment %}c{% endcomment %}d", NULL, "d"},
        {"{% # inline comment %}x", NULL, "x"},
        {"{% raw %}{{ not }} {% if %}{% endraw %}", NULL, "{{ not }} {% if %}"},
        {"a {%- raw -%} {{x}} {%- endraw -%} b", NULL, "a{{x}}b"},
    };
    ROWS(r);
}

static void test_string_filters(void)
{
    static const row r[] = {
        {"{{ missing | default: 'd' }}{{ no | default: 'f' }}{{ s | default: 'e' }}", NULL, "dfe"},
        {"{{ empty | default: 'e' }}{{ name | default: 'x' }}{{ 0 | default: 1 }}", NULL, "eAda0"},
        {"{{ 'Hello' | upcase }} {{ 'Hello' | downcase }}", NULL, "HELLO hello"},
        {"{{ 'hELLO wORLD' | capitalize }}", NULL, "Hello world"},
        {"{{ html | escape }}", NULL, "&lt;b&gt;hi&lt;/b&gt; &amp; &#39;you&#39;"},
        {"{{ '&amp; & <' | escape_once }}", NULL, "&amp; &amp; &lt;"},
        {"{{ 'a b&c/é~' | url_encode }}", NULL, "a+b%26c%2F%C3%A9~"},
        {"{{ '<p>Hi <b>there</b><script>x()</script><!-- c --><style>p{}</style></p>' | "
         "strip_html }}",
         NULL, "Hi there"},
        {"{{ 'a < b' | strip_html }}", NULL, "a < b"},
        {"[{{ '  x y  ' | strip }}][{{ '  x ' | lstrip }}][{{ ' x  ' | rstrip }}]", NULL,
         "[x y][x ][ x]"},
        {"{{ 'Ground control to Major Tom.' | truncate: 20 }}", NULL, "Ground control to..."},
        {"{{ 'Ground control to Major Tom.' | truncate: 25, ', and so on' }}", NULL,
         "Ground control, and so on"},
        {"{{ 'Ground control to Major Tom.' | truncate: 20, '' }}", NULL, "Ground control to Ma"},
        {"{{ 'short' | truncate: 5 }}|{{ 'abc' | truncate: 2 }}", NULL, "short|..."},
        {"{{ 'héllo wörld' | truncate: 7 }}", NULL, "héll..."},
        {"{{ 'Ground control to Major Tom.' | truncatewords: 3 }}", NULL, "Ground control to..."},
        {"{{ 'Ground control to Major Tom.' | truncatewords: 3, '--' }}", NULL,
         "Ground control to--"},
        {"{{ 'one  two' | truncatewords: 2 }}|{{ 'a b c' | truncatewords: 0 }}", NULL,
         "one  two|a..."},
        {"{{ 'a-b-a' | replace: 'a', 'x' }} {{ 'a-b-a' | replace_first: 'a', 'x' }}", NULL,
         "x-b-x x-b-a"},
        {"{{ 'abc' | replace: '', '-' }}", NULL, "-a-b-c-"},
        {"{{ 'a-b-a' | remove: 'a' }} {{ 'a-b-a' | remove_first: 'a' }}", NULL, "-b- -b-a"},
        {"{{ 'a' | append: 'b' }}{{ 'a' | prepend: 'b' }}{{ n | append: 1 }}", NULL, "abba71"},
        {"{{ 'a\nb' | newline_to_br }}", NULL, "a<br />\nb"},
        {"{{ words | join }} {{ words | join: ', ' }} {{ list | join: '+' }}", NULL,
         "a b c a, b, c 1+2+3"},
        {"{{ 'a,b,,c,,' | split: ',' | join: '|' }}", NULL, "a|b||c"},
        {"{{ '  a  b c ' | split: ' ' | join: '|' }}", NULL, "a|b|c"},
        {"{{ 'héy' | split: '' | join: '.' }}", NULL, "h.é.y"},
        {"{{ 'a,b' | split: ',' | size }}{{ 'a,b' | split: ',' | last }}", NULL, "2b"},
        {"{{ words | first }}{{ words | last }}{{ list | reverse | join: '' }}", NULL, "ac321"},
        {"[{{ 'str' | first }}][{{ empty | first }}]", NULL, "[][]"},
        {"{{ words | size }} {{ 'héllo' | size }} {{ user | size }} {{ n | size }}", NULL,
         "3 5 3 0"},
        {"{{ html | raw }}", NULL, "<b>hi</b> & 'you'"},
    };
    ROWS(r);
}

static void test_number_filters(void)
{
    static const row r[] = {
        {"{{ 4 | plus: 2 }} {{ 4 | plus: 2.0 }} {{ '4' | plus: '2' }} {{ '3.5' | plus: 1 }}", NULL,
         "6 6.0 6 4.5"},
        {"{{ 4 | minus: 6 }} {{ 2.5 | minus: 1 }}", NULL, "-2 1.5"},
        {"{{ 3 | times: 2 }} {{ 3 | times: 0.5 }} {{ 'x' | times: 2 }}", NULL, "6 1.5 0"},
        {"{{ 7 | divided_by: 2 }} {{ -7 | divided_by: 2 }} {{ 7 | divided_by: 2.0 }}", NULL,
         "3 -4 3.5"},
        {"{{ 20 | divided_by: 7.0 | round: 2 }}", NULL, "2.86"},
        {"{{ 7 | modulo: 3 }} {{ -7 | modulo: 3 }} {{ 7 | modulo: -3 }} {{ 5.5 | modulo: 2 }}",
         NULL, "1 2 -2 1.5"},
        {"{{ 2.5 | round }} {{ -2.5 | round }} {{ 4.5612 | round: 2 }} {{ 3 | round: 2 }}", NULL,
         "3 -3 4.56 3"},
        {"{{ 1.2 | ceil }} {{ 1.8 | floor }} {{ -3 | abs }} {{ '-2.5' | abs }}", NULL, "2 1 3 2.5"},
        {"{{ 9223372036854775807 | plus: 1 }}", NULL, "9.223372036854776e+18"},
        {"{{ nil | plus: 1 }}{{ missing | times: 3 }}", NULL, "10"},

        {"{{ 10000000000000000.0 }} {{ 0.0001 }} {{ 0.00001 }}", NULL, "1.0e+16 0.0001 1.0e-05"},
    };
    ROWS(r);
}

static void test_date(void)
{
    static const row r[] = {
        {"{{ '2026-03-04T05:06:07Z' | date: '%Y-%m-%d %H:%M:%S' }}", NULL, "2026-03-04 05:06:07"},
        {"{{ '2026-03-04T15:06:07Z' | date: '%a %A %b %B %e %-d %-m %I %l %p %y %j' }}", NULL,
         "Wed Wednesday Mar March  4 4 3 03  3 PM 26 063"},
        {"{{ '2026-03-04T05:06:07+02:00' | date: '%H:%M %z' }}", NULL, "05:06 +0200"},
        {"{{ '2026-03-04' | date: '%F %T' }}", NULL, "2026-03-04 00:00:00"},
        {"{{ 0 | date: '%F %T %s %Z' }}", NULL, "1970-01-01 00:00:00 0 UTC"},
        {"{{ '86400' | date: '%D' }}", NULL, "01/02/70"},
        {"{{ 'now' | date: '%Y-%m-%d' }} {{ 'today' | date: '%Y' }}", NULL, "2026-11-18 2026"},
        {"{{ 'not a date' | date: '%Y' }}|{{ nil | date: '%Y' }}|{{ 'now' | date: '' }}", NULL,
         "not a date||now"},
        {"{{ '2024-02-29T00:00:00Z' | date: '%j %% %q' }}", NULL, "060 % %q"},
    };
    ROWS(r);
}

static void test_escape_html(void)
{
    static const row r[] = {
        {"<p>{{ html }}</p>", NULL, "<p>&lt;b&gt;hi&lt;/b&gt; &amp; &#39;you&#39;</p>"},
        {"{{ html | raw }}", NULL, "<b>hi</b> & 'you'"},
        {"{{ html | escape }}", NULL, "&lt;b&gt;hi&lt;/b&gt; &amp; &#39;you&#39;"},
        {"{{ html | raw | upcase }}", NULL, "&lt;B&gt;HI&lt;/B&gt; &amp; &#39;YOU&#39;"},
        {"{{ n }} {{ list }}", NULL, "7 123"},
        {"{% capture c %}<i>{{ '<' }}</i>{% endcapture %}{{ c }}", NULL, "<i>&lt;</i>"},
        {"{% assign r = html | raw %}{{ r }}", NULL, "<b>hi</b> & 'you'"},
        {"{{ html | escape | upcase }}", NULL,
         "&amp;LT;B&amp;GT;HI&amp;LT;/B&amp;GT; &amp;AMP; "
         "&amp;#39;YOU&amp;#39;"},
        {"{% echo html %}", NULL, "&lt;b&gt;hi&lt;/b&gt; &amp; &#39;you&#39;"},
    };
    check_rows(r, sizeof(r) / sizeof(r[0]), 1);
}

int main(void)
{
    RUN(test_output);
    RUN(test_if);
    RUN(test_case);
    RUN(test_for);
    RUN(test_assign_capture);
    RUN(test_string_filters);
    RUN(test_number_filters);
    RUN(test_date);
    RUN(test_escape_html);
    return TEST_SUMMARY();
}
