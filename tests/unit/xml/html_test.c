/*
 * HTML email body to plain text: each row is an HTML input and the text a reader should get
 * (worked out by hand from the rules in xml.h), then the error cases: caps, bad UTF-8, NUL
 * bytes, nesting past libxml2's limit, each leaving the output buffer as it was.
 */
#include "xml_fixture.h"

typedef struct row {
    const char *name, *html, *want;
} row;

static const row rows[] = {
    {"paragraphs", "<p>Hello</p><p>World</p>", "Hello\n\nWorld\n"},
    {"br", "<p>Line one<br>Line two</p>", "Line one\nLine two\n"},
    {"two br make one blank line", "a<br><br>b<br><br><br><br>c", "a\n\nb\n\nc\n"},
    {"link with label", "<p>Read <a href=\"https://example.com/post\">our post</a> today.</p>",
     "Read our post (https://example.com/post) today.\n"},
    {"link label equal to url", "<a href=\"https://example.com/\">https://example.com</a>",
     "https://example.com\n"},
    {"link label is the host", "<a href=\"https://www.example.com\">www.example.com</a>",
     "www.example.com\n"},
    {"mailto equal to label", "Write to <a href=\"mailto:ada@example.com\">ada@example.com</a>.",
     "Write to ada@example.com.\n"},
    {"empty, # and javascript hrefs",
     "<a href=\"#\">Top</a> <a href=\"\">Here</a> <a href=\"#s2\">Next</a> "
     "<a href=\"javascript:go()\">Go</a> <a>None</a>",
     "Top Here Next Go None\n"},
    {"line breaks inside a url", "<a href=\" https://x.test/a\n  b\tc \">go</a>",
     "go (https://x.test/a  bc)\n"},
    {"image link with and without alt",
     "<a href=\"https://example.com\"><img src=\"logo.png\" alt=\"Example\"></a>"
     "<p><a href=\"https://example.com/x\"><img src=\"y.png\"></a></p>",
     "Example (https://example.com)\n\nhttps://example.com/x\n"},
    {"lists", "<ul><li>One</li><li>Two</li></ul><ol start=\"3\"><li>Three</li><li>Four</li></ol>",
     "- One\n- Two\n\n3. Three\n4. Four\n"},
    {"nested list", "<p>Agenda:</p><ul><li>A<ul><li>A1</li><li>A2</li></ul></li><li>B</li></ul>",
     "Agenda:\n\n- A\n  - A1\n  - A2\n- B\n"},
    {"list items with paragraphs", "<ol><li><p>First</p></li><li><p>Second</p></li></ol>",
     "1. First\n2. Second\n"},
    {"email footer in nested tables",
     "<table width=\"100%\"><tr><td align=\"center\">\n"
     "  <table><tr><td><a href=\"https://example.com/unsubscribe?u=1&amp;id=2\">Unsubscribe</a>"
     " | <a href=\"https://example.com/prefs\">Preferences</a></td></tr>\n"
     "  <tr><td>Example Inc., 1 Main St, Springfield</td></tr></table>\n"
     "</td></tr></table>\n"
     "<table><tr><td>Copyright &copy; 2026</td><td>All rights reserved.</td></tr></table>",
     "Unsubscribe (https://example.com/unsubscribe?u=1&id=2) | Preferences "
     "(https://example.com/prefs)\n"
     "Example Inc., 1 Main St, Springfield\n"
     "Copyright \xc2\xa9 2026 All rights reserved.\n"},
    {"entities",
     "<p>Fish &amp; Chips&nbsp;&nbsp;for J&ouml;rg, &eacute;t&eacute; 5&euro; &lt;b&gt;</p>",
     "Fish & Chips for J\xc3\xb6rg, \xc3\xa9t\xc3\xa9 5\xe2\x82\xac <b>\n"},
    {"utf-8 text", "<p>J\xc3\xb6rg zahlt 5 \xe2\x82\xac f\xc3\xbcr \xe6\x97\xa5\xe6\x9c\xac</p>",
     "J\xc3\xb6rg zahlt 5 \xe2\x82\xac f\xc3\xbcr \xe6\x97\xa5\xe6\x9c\xac\n"},
    {"script, style, head, title dropped",
     "<html><head><title>T</title><style>p{color:red}</style></head><body>"
     "<script>alert('x')</script><p>Body</p><noscript>no js</noscript></body></html>",
     "Body\n"},
    {"whitespace collapsed",
     "<p>  lots   of\n\t spaces <b> here </b> and<i>there</i>  </p>\n\n\n<p>\n next\n</p>",
     "lots of spaces here andthere\n\nnext\n"},
    {"headings and hr", "<h1>Title</h1><p>Intro</p><hr><h2>Part</h2><p>After</p>",
     "Title\n\nIntro\n\n---\n\nPart\n\nAfter\n"},
    {"hidden preheader",
     "<div style=\"display: none; max-height:0\">Preview&zwnj;&nbsp;</div>"
     "<p hidden>gone</p><p>Hi</p>",
     "Hi\n"},
    {"pre keeps lines", "<p>Code:</p><pre>\n  a = 1\n  b = 2  \n</pre><p>End</p>",
     "Code:\n\n  a = 1\n  b = 2\n\nEnd\n"},
    {"blank pre does not lead", "<pre> </pre><pre>\n  </pre><p>x</p>", "x\n"},
    {"gmail div lines", "<div>Hi Ada,</div><div><br></div><div>Thanks!</div><div>Bo</div>",
     "Hi Ada,\n\nThanks!\nBo\n"},
    {"conditional comments dropped", "<!--[if mso]><p>mso</p><![endif]--><p>all</p>", "all\n"},
    {"zero-width characters dropped",
     "<p>a\xe2\x80\x8b"
     "b&shy;c\xef\xbb\xbf</p>",
     "abc\n"},
    {"meta charset ignored", "<meta charset=\"iso-8859-1\"><p>\xc3\xa9</p>", "\xc3\xa9\n"},
    {"empty", "", ""},
    {"blank", "  \n\t ", ""},
    {"no text", "<p></p><div><br></div><img src=\"x.png\">", ""},
};

static void test_rows(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        hub_buf out;
        const char *got = xml_run_row(XML_TO_TEXT, rows[i].name, rows[i].html, &out, NULL);
        if (strcmp(got, rows[i].want) != 0) {
            fprintf(stderr, "case %s\n", rows[i].name);
            CHECK_STR(got, rows[i].want);
        }
        hub_buf_free(&out);
    }
}

/* Output is appended after what the buffer already holds. */
static void test_appends(void)
{
    xml_expect_output(XML_TO_TEXT, "<p>a</p>", 8, 100, "X\n", NULL, "X\na\n");
}

static void expect_error(const char *html, size_t len, size_t cap, int code)
{
    xml_expect_error(XML_TO_TEXT, html, len, cap, code);
}

static void test_output_cap(void)
{
    const char *html = "<p>Hello world, this is longer than ten bytes</p>";
    expect_error(html, strlen(html), 10, HUB_ETOOBIG);
    /* the final newline alone does not fit */
    expect_error("<p>1234567</p>", 14, 10, HUB_ETOOBIG);
    xml_expect_output(XML_TO_TEXT, "<p>1234567</p>", 14, 11, "abc", NULL, "abc1234567\n");
}

static void test_bad_input(void)
{
    expect_error("<p>\xff</p>", 8, 1 << 20, HUB_EINVAL);
    expect_error("<p>\xc3</p>", 8, 1 << 20, HUB_EINVAL);
    expect_error("<p>\xed\xa0\x80</p>", 10, 1 << 20, HUB_EINVAL); /* a surrogate */
    expect_error("<p>a\0b</p>", 10, 1 << 20, HUB_EINVAL);
}

static void test_deep_nesting(void)
{
    xml_expect_nest_refused(XML_TO_TEXT, "<div>", 300, "deep");
    xml_expect_nest_refused(XML_TO_TEXT, "<b>", 300, "bold");

    char *ok = xml_nest("<div>", 200, "fine", "");
    xml_expect_output(XML_TO_TEXT, ok, strlen(ok), 1 << 20, NULL, NULL, "fine\n");
    free(ok);
}

static void test_input_cap(void)
{
    size_t n = HUB_XML_MAX_INPUT + 1;
    char *big = malloc(n);
    REQUIRE(big != NULL);
    memset(big, 'a', n);
    expect_error(big, n, 1 << 20, HUB_ETOOBIG);
    /* exactly at the limit is accepted */
    hub_buf out;
    hub_buf_init(&out, HUB_XML_MAX_INPUT + 1);
    CHECK(hub_xml_html_to_text(big, n - 1, &out, NULL) == 0);
    CHECK(out.len == n);
    CHECK(out.data != NULL && out.data[0] == 'a' && out.data[n - 1] == '\n');
    hub_buf_free(&out);
    free(big);
}

int main(void)
{
    hub_xml_global_init();
    RUN(test_rows);
    RUN(test_appends);
    RUN(test_output_cap);
    RUN(test_bad_input);
    RUN(test_deep_nesting);
    RUN(test_input_cap);
    return TEST_SUMMARY();
}
