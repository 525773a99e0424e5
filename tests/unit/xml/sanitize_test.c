/*
 * The HTML fragment sanitizer: each row is an input fragment, the exact HTML that must come
 * out and how many elements and attributes were removed. The XSS rows follow the classic
 * vectors (OWASP's filter evasion cheat sheet, DOMPurify's test suite): event handlers, script
 * URLs in every disguise, foreign content, raw-text elements, broken markup. Then idempotence,
 * caps, bad input and deep nesting.
 */
#include <pthread.h>

#include "xml_fixture.h"

typedef struct row {
    const char *name, *html, *want;
    size_t removed;
} row;

static const row rows[] = {
    /* allowed markup is kept exactly */
    {"nested allowed", "<p>Hi <b>there</b></p>", "<p>Hi <b>there</b></p>", 0},
    {"rich text",
     "<h2 id=\"t\">Title</h2><p class=\"lead\" lang=\"en\" dir=\"ltr\" title=\"x\">A <em>b</em> "
     "<strong>c</strong> <code>d</code> <s>e</s> <u>f</u> <sub>g</sub><sup>h</sup></p>"
     "<blockquote>q</blockquote><pre>  x\n  y</pre><hr><br>",
     "<h2 id=\"t\">Title</h2><p class=\"lead\" lang=\"en\" dir=\"ltr\" title=\"x\">A <em>b</em> "
     "<strong>c</strong> <code>d</code> <s>e</s> <u>f</u> <sub>g</sub><sup>h</sup></p>"
     "<blockquote>q</blockquote><pre>  x\n  y</pre><hr><br>",
     0},
    {"lists and tables",
     "<ul><li>a</li></ul><ol><li>b</li></ol><table><thead><tr><th rowspan=\"2\">h</th></tr>"
     "</thead><tbody><tr><td colspan=\"2\" style=\"x\">c</td></tr></tbody></table>",
     "<ul><li>a</li></ul><ol><li>b</li></ol><table><thead><tr><th rowspan=\"2\">h</th></tr>"
     "</thead><tbody><tr><td colspan=\"2\">c</td></tr></tbody></table>",
     1},
    {"allowed urls",
     "<a href=\"/path?q=1#f\">a</a><a href=\"mailto:a@b.test\">m</a><a href=\"tel:+331\">t</a>"
     "<a href=\"HTTPS://x.test/\">h</a><a href=\"#top\">f</a>"
     "<img src=\"images/x.png\" alt=\"X\" width=\"10\" height=\"5\">",
     "<a href=\"/path?q=1#f\">a</a><a href=\"mailto:a@b.test\">m</a><a href=\"tel:+331\">t</a>"
     "<a href=\"HTTPS://x.test/\">h</a><a href=\"#top\">f</a>"
     "<img src=\"images/x.png\" alt=\"X\" width=\"10\" height=\"5\">",
     0},
    {"figure", "<figure><img src=\"a.png\" alt=\"\"><figcaption>Cap</figcaption></figure>",
     "<figure><img src=\"a.png\" alt=\"\"><figcaption>Cap</figcaption></figure>", 0},
    /* escaping on output */
    {"attribute quotes and ampersands",
     "<a href=\"https://x.test/?a=1&amp;b=2&c=3\" title='say \"hi\" &amp; <bye>'>t</a>",
     "<a href=\"https://x.test/?a=1&amp;b=2&amp;c=3\" "
     "title=\"say &quot;hi&quot; &amp; &lt;bye&gt;\">t</a>",
     0},
    {"text escaping", "<p>1 &lt; 2 &amp;&amp; 3 &gt; 2 \"q\" 'a'</p>",
     "<p>1 &lt; 2 &amp;&amp; 3 &gt; 2 \"q\" 'a'</p>", 0},
    {"utf-8 and nbsp", "<p>J\xc3\xb6rg &euro; &nbsp;</p>",
     "<p>J\xc3\xb6rg \xe2\x82\xac \xc2\xa0</p>", 0},
    {"bare text", "just text & more", "just text &amp; more", 0},
    /* rel on target */
    {"target gains rel", "<a href=\"https://x.test\" target=\"_blank\">x</a>",
     "<a href=\"https://x.test\" target=\"_blank\" rel=\"noopener noreferrer\">x</a>", 0},
    {"target keeps own rel", "<a rel=\"nofollow\" target=\"_blank\" href=\"/x\">x</a>",
     "<a target=\"_blank\" href=\"/x\" rel=\"nofollow noopener noreferrer\">x</a>", 0},
    {"target rel partly there", "<a target=\"t\" rel=\"NoOpener\">x</a>",
     "<a target=\"t\" rel=\"NoOpener noreferrer\">x</a>", 0},
    {"rel without target", "<a href=\"/x\" rel=\"nofollow\">x</a>",
     "<a href=\"/x\" rel=\"nofollow\">x</a>", 0},
    /* removed with content */
    {"script", "<script>alert(1)</script><p>ok</p>", "<p>ok</p>", 1},
    {"style", "<style><img src=x onerror=alert(1)></style>ok", "ok", 1},
    {"svg onload", "<svg onload=alert(1)><circle r=\"1\"/></svg><p>after</p>", "<p>after</p>", 1},
    {"math", "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>", "", 1},
    {"iframe object embed",
     "<iframe src=\"https://evil.test\"></iframe><object data=\"x\"></object><embed src=\"y\">", "",
     3},
    {"form controls", "<form action=\"/x\"><input name=\"q\"><button>Go</button></form>text",
     "text", 1},
    {"noscript mxss", "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
     "", 1},
    {"template", "<template><script>alert(1)</script></template>x", "x", 1},
    {"link meta base",
     "<link rel=\"stylesheet\" href=\"x.css\"><meta http-equiv=\"refresh\" content=\"0\">"
     "<base href=\"https://evil.test/\">x",
     "x", 3},
    /* attributes removed */
    {"img onerror", "<img src=x onerror=alert(1)>", "<img src=\"x\">", 1},
    {"handlers and style",
     "<p style=\"color:red\" onclick=\"x()\" class=\"lead\" ONMOUSEOVER=\"y()\" id=\"p1\">t</p>",
     "<p class=\"lead\" id=\"p1\">t</p>", 3},
    {"attribute of another element", "<p href=\"/x\" src=\"y\" colspan=\"2\">t</p>", "<p>t</p>", 3},
    {"javascript url", "<a href=\"javascript:alert(1)\">x</a>", "<a>x</a>", 1},
    {"mixed case scheme", "<a href=\"JaVaScRiPt:alert(1)\">x</a>", "<a>x</a>", 1},
    {"tab inside scheme", "<a href=\"java\tscript:alert(1)\">x</a>", "<a>x</a>", 1},
    {"encoded tab and newline", "<a href=\"java&#x09;scr&#10;ipt:alert(1)\">x</a>", "<a>x</a>", 1},
    {"numeric reference", "<a href=\"&#106;avascript:alert(1)\">x</a>", "<a>x</a>", 1},
    {"hex reference, no semicolons", "<a href=\"&#x6A&#x61vascript:alert(1)\">x</a>", "<a>x</a>",
     1},
    {"leading spaces", "<a href=\"  \n javascript:alert(1)\">x</a>", "<a>x</a>", 1},
    {"data image", "<img src=\"data:image/svg+xml;base64,PHN2Zz4=\" alt=\"a\">", "<img alt=\"a\">",
     1},
    {"vbscript", "<a href=\"vbscript:msgbox(1)\">x</a>", "<a>x</a>", 1},
    {"unknown scheme", "<a href=\"foo:bar\">x</a><a href=\"https:x\">y</a>",
     "<a>x</a><a href=\"https:x\">y</a>", 1},
    {"html5-only reference stays text", "<a href=\"javascript&colon;alert(1)\">x</a>",
     "<a href=\"javascript&amp;colon;alert(1)\">x</a>", 0},
    /* broken markup */
    {"split script tag", "<scr<script>ipt>alert(1)</script>", "ipt&gt;alert(1)", 1},
    {"unclosed tags", "<p>one<b>two<i>three", "<p>one<b>two<i>three</i></b></p>", 0},
    {"stray end tags are ignored", "a</b></p>b</div>", "ab", 0},
    {"unknown element unwrapped", "<custom-tag data-x=\"1\"><p>kept</p></custom-tag>",
     "<p>kept</p>", 1},
    {"font and center unwrapped", "<center><font color=\"red\">hi</font></center>", "hi", 2},
    {"comments", "<p>a<!-- secret --> b</p><!--[if mso]><p>mso</p><![endif]--><?php x ?>",
     "<p>a b</p>", 0},
    {"document tags", "<!DOCTYPE html><html><body onload=\"x()\"><p>x</p></body></html>",
     "<p>x</p>", 0},
    {"empty", "", "", 0},
};

static void test_rows(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        hub_buf out;
        size_t removed = 99;
        const char *got = xml_run_row(XML_SANITIZE, rows[i].name, rows[i].html, &out, &removed);
        if (strcmp(got, rows[i].want) != 0 || removed != rows[i].removed) {
            fprintf(stderr, "case %s: removed %zu, want %zu\n", rows[i].name, removed,
                    rows[i].removed);
            CHECK_STR(got, rows[i].want);
            CHECK(removed == rows[i].removed);
        }
        /* the output is a fixed point: sanitizing it again changes and removes nothing */
        xml_expect_output(XML_SANITIZE, got, strlen(got), 1 << 20, NULL, &removed, got);
        CHECK(removed == 0);
        hub_buf_free(&out);
    }
}

static void test_removed_optional(void)
{
    xml_expect_output(XML_SANITIZE, "<i onclick=x>i</i>", 18, 1 << 10, "<hr>", NULL,
                      "<hr><i>i</i>");
}

static void expect_error(const char *html, size_t len, size_t cap, int code)
{
    xml_expect_error(XML_SANITIZE, html, len, cap, code);
}

static void test_errors(void)
{
    const char *html = "<p>Hello <b>world</b></p>";
    expect_error(html, strlen(html), 20, HUB_ETOOBIG);
    expect_error("<p>\xff</p>", 8, 1 << 20, HUB_EINVAL);
    expect_error("<p>\xc0\xaf</p>", 9, 1 << 20, HUB_EINVAL); /* overlong '/' */
    expect_error("<p>a\0<script></p>", 17, 1 << 20, HUB_EINVAL);

    size_t n = HUB_XML_MAX_INPUT + 1;
    char *big = malloc(n);
    REQUIRE(big != NULL);
    memset(big, 'a', n);
    expect_error(big, n, 1 << 20, HUB_ETOOBIG);
    free(big);
}

static void test_deep_nesting(void)
{
    xml_expect_nest_refused(XML_SANITIZE, "<div>", 300, "x");
    xml_expect_nest_refused(XML_SANITIZE, "<span><x-y>", 150, "x");

    char *ok = xml_nest("<div>", 200, "x", "</div>");
    size_t removed = 99;
    xml_expect_output(XML_SANITIZE, ok, strlen(ok), 1 << 20, NULL, &removed, ok);
    CHECK(removed == 0);
    free(ok);
}

/* libxml2 checks duplicate attributes in quadratic time: a tag with thousands of them is
 * refused before parsing (it took 45 s for 140k), a tag with hundreds still parses. */
static void test_attribute_flood(void)
{
    size_t n = 5000, cap = n * 12 + 16;
    char *s = malloc(cap), *p = s;
    REQUIRE(s != NULL);
    p += snprintf(p, cap, "<p");
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - s), " a%zu=1", i);
    snprintf(p, cap - (size_t)(p - s), ">x</p>");
    int64_t t0 = hub_mono_ms();
    expect_error(s, strlen(s), 1 << 20, HUB_EINVAL);
    CHECK(hub_mono_ms() - t0 < 1000);
    /* Quoted values may hold spaces, '=' and '>' without counting as attributes. */
    p = s + snprintf(s, cap, "<p title=\"");
    for (size_t i = 0; i < 3000 && (size_t)(p - s) + 8 < cap; i++)
        p += snprintf(p, cap - (size_t)(p - s), " w=> ");
    snprintf(p, cap - (size_t)(p - s), "\">x</p>");
    hub_buf out;
    hub_buf_init(&out, 1 << 20);
    CHECK(hub_xml_sanitize_html(s, strlen(s), &out, NULL, NULL) == 0);
    hub_buf_free(&out);
    free(s);
}

/* Several threads sanitize at once (after hub_xml_global_init) and all get the same answers. */
static void *sanitize_rows(void *arg)
{
    static const char list_html[] = "<p>a <b>b</b></p><ul><li>c</li></ul>";
    int *bad = arg;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            hub_buf out;
            hub_buf_init(&out, 1 << 20);
            size_t removed = 99;
            int rc =
                hub_xml_sanitize_html(rows[i].html, strlen(rows[i].html), &out, &removed, NULL);
            if (rc != 0 || removed != rows[i].removed ||
                strcmp(out.data != NULL ? out.data : "", rows[i].want) != 0)
                (*bad)++;
            hub_buf_reset(&out);
            if (hub_xml_html_to_text(list_html, strlen(list_html), &out, NULL) != 0 ||
                strcmp(out.data, "a b\n\n- c\n") != 0)
                (*bad)++;
            hub_buf_free(&out);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    int bad[4] = {0};
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&t[i], NULL, sanitize_rows, &bad[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(bad[i] == 0);
    }
}

int main(void)
{
    hub_xml_global_init();
    RUN(test_rows);
    RUN(test_removed_optional);
    RUN(test_errors);
    RUN(test_deep_nesting);
    RUN(test_attribute_flood);
    RUN(test_threads);
    return TEST_SUMMARY();
}
