"""Errors: every one is an RFC 9457 problem (application/problem+json with type, title, status,
detail), with the status API.md gives it: 400 malformed JSON or query, 401 no or unknown token,
403 wrong role, 404 unknown route or resource, 405 wrong method (with Allow), 413 body over
1 MiB, 415 not JSON, 422 breaking a rule (listing every problem with its JSON pointer)."""
import json

import pytest

from helpers import assert_problem, email_only, message, raw_request, uniq

MIB = 1024 * 1024


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/nope/deeper", "/v2/items", "/nothing",
                                  "/v1/", "/v1"])
def test_unknown_route_is_404_problem(hub, path):
    assert_problem(hub.admin.get(path), 404)


def test_unknown_resources_are_404(hub):
    for path in ["/v1/items/no/such/item", "/v1/locales/sv", "/v1/taxonomy/product/nope",
                 "/v1/journeys/journey/nope", "/v1/content/no/such?channel=email",
                 "/v1/items/no/such/versions/1"]:
        assert_problem(hub.admin.get(path), 404)


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/v1/changes", "GET"),
    ("POST", "/v1/locales/en", "PUT"),
    ("POST", "/v1/audit", "GET"),
    ("PUT", "/v1/tokens", "POST"),
    ("GET", "/v1/items/x/publish", "POST"),
    ("DELETE", "/v1/taxonomy", "GET"),
    ("POST", "/v1/content/x", "GET"),
])
def test_wrong_method_is_405_with_allow(hub, method, path, allowed):
    r = hub.admin.request(method, path)
    assert_problem(r, 405)
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    assert allowed in allow, "Allow: %r" % r.headers.get("Allow")
    assert method not in allow


ROUTES = ["/v1/tokens", "/v1/tokens/nobody", "/v1/locales", "/v1/locales/sv", "/v1/taxonomy",
          "/v1/taxonomy/segment/nothing", "/v1/items", "/v1/items/no/item",
          "/v1/items/no/item/publish", "/v1/items/no/item/unpublish",
          "/v1/items/no/item/versions", "/v1/items/no/item/versions/1",
          "/v1/items/no/item/rollback", "/v1/content/no/item", "/v1/journeys",
          "/v1/journeys/journey/nothing", "/v1/changes", "/v1/audit"]


@pytest.mark.parametrize("path", ROUTES)
def test_allow_header_agrees_with_the_route(hub, path):
    """Every method a route refuses is a 405 naming the others in Allow; no method named in
    Allow is refused with 405. (Bodiless calls on missing resources: nothing is changed.)"""
    refused, allows = [], set()
    for method in ("GET", "PUT", "POST", "PATCH", "DELETE"):
        r = hub.admin.request(method, path)
        assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
        if r.status_code == 405:
            assert_problem(r, 405)
            refused.append(method)
            allows.add(r.headers.get("Allow", ""))
    assert refused, "%s accepts every method" % path
    assert len(allows) == 1, "different Allow headers for one route: %s" % allows
    allowed = {m.strip() for m in allows.pop().split(",")}
    assert not allowed & set(refused), (path, allowed, refused)
    answered = {"GET", "PUT", "POST", "PATCH", "DELETE"} - set(refused)
    assert answered <= allowed, "Allow of %s lacks %s" % (path, answered - allowed)


def test_401_without_or_with_unknown_token(hub):
    for path in ["/v1/items", "/v1/locales", "/v1/tokens", "/v1/content/a?channel=email"]:
        assert_problem(hub.anon.get(path), 401)
        assert_problem(hub.anon.get(path, headers={"Authorization": "Bearer oh_not-a-token"}),
                       401)
        assert_problem(hub.anon.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
        assert_problem(hub.anon.get(path, headers={"Authorization": "Bearer"}), 401)
    # a valid token with one character changed is just as unknown
    t = hub.tokens["admin"]
    bad = t[:-1] + ("A" if t[-1] != "A" else "B")
    assert_problem(hub.anon.get("/v1/tokens", headers={"Authorization": "Bearer " + bad}), 401)


def test_healthz_needs_no_token(hub):
    r = hub.anon.get("/healthz")
    assert r.status_code == 200


def test_403_wrong_role(hub):
    assert_problem(hub.delivery.get("/v1/tokens"), 403)
    assert_problem(hub.editor.put("/v1/locales/fr", {"name": "Français", "fallback": "en"}), 403)
    assert_problem(hub.preview.put("/v1/items/" + uniq("x"), email_only("x")), 403)


def test_400_malformed_json(hub):
    for raw in [b"{", b'{"name": }', b"[1,2", b"nul", b'{"name":"a"} trailing', b""]:
        r = hub.admin.put("/v1/locales/fr", raw=raw, content_type="application/json")
        assert_problem(r, 400)


def test_400_bad_and_unknown_query_params(hub):
    for q in ["limit=abc", "limit=0", "limit=1001", "limit=-1", "cursor=garbage!!", "cursor=%zz",
              "status=maybe", "kind=poem"]:
        assert_problem(hub.admin.get("/v1/items?" + q), 400)
    assert_problem(hub.admin.get("/v1/items?colour=blue"), 400)
    assert_problem(hub.admin.get("/v1/changes?since=yesterday"), 400)
    assert_problem(hub.admin.get("/v1/locales?frobnicate=1"), 400)


def test_400_bad_percent_encoding_and_bad_utf8_in_path(hub):
    for path in ["/v1/items/a%zz", "/v1/items/a%", "/v1/items/%ff%fe"]:
        r = hub.admin.get(path)
        assert r.status_code in (400, 404), r.text
        assert_problem(r, r.status_code)


def test_415_not_json(hub):
    key = uniq("ct/")
    body = b'{"name": "Fran\xc3\xa7ais", "fallback": "en"}'
    for ctype in ["text/plain", "application/x-www-form-urlencoded", "application/xml"]:
        assert_problem(hub.admin.put("/v1/locales/fr", raw=body, content_type=ctype), 415)
    r = hub.admin.request("PUT", "/v1/locales/fr", raw=body)  # no Content-Type at all
    assert_problem(r, 415)
    # PATCH takes merge patches (and JSON), nothing else
    hub.editor.put_item(email_only(key))
    assert_problem(hub.editor.patch("/v1/items/" + key, {"title": "x"},
                                    content_type="text/plain"), 415)


def test_json_content_type_with_charset_is_accepted(hub):
    r = hub.admin.put("/v1/locales/fr", raw=b'{"name": "Fran\xc3\xa7ais", "fallback": "en"}',
                      content_type="application/json; charset=utf-8")
    assert r.status_code == 200, r.text


def test_invalid_utf8_body_is_400(hub):
    for raw in [b'{"name": "\xff\xfe"}', b'{"name": "\xc3"}', b'{"name": "\xed\xa0\x80"}',
                b'{"name": "\xc0\xaf"}']:
        r = hub.admin.put("/v1/locales/fr", raw=raw, content_type="application/json")
        assert_problem(r, 400)
    # escaped lone surrogates are not UTF-8 either
    r = hub.admin.put("/v1/locales/fr", raw=b'{"name": "\\ud800"}',
                      content_type="application/json")
    assert r.status_code in (400, 422), r.text
    assert_problem(r, r.status_code)


def test_413_body_over_one_mib(hub):
    key = uniq("big/")
    item = email_only(key)
    item["variants"][0]["content"]["en"]["email"]["html"] = "x" * (MIB + 10)
    auth = ("Authorization", "Bearer " + hub.tokens["editor"])
    raw = json.dumps(item).encode()
    (status, headers, body), _ = raw_request(
        hub.port, "PUT", "/v1/items/" + key,
        [auth, ("Content-Type", "application/json"), ("Content-Length", str(len(raw)))],
        body=raw)
    assert status == 413, body[:300]
    assert json.loads(body)["status"] == 413
    # announced too big: refused from the headers alone
    (status, headers, body), _ = raw_request(
        hub.port, "PUT", "/v1/items/" + key,
        [auth, ("Content-Type", "application/json"), ("Content-Length", str(MIB + 1))],
        body=b"{" + b" " * 1000)
    assert status == 413, body[:300]
    assert headers.get("content-type", "").startswith("application/problem+json")
    # chunked: no length announced, the limit still holds
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * (64 * 1024))
    (status, _, body), _ = raw_request(
        hub.port, "PUT", "/v1/items/" + key,
        [auth, ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
        body=chunk * 17 + b"0\r\n\r\n")
    assert status == 413, body[:300]
    assert hub.editor.get("/v1/items/" + key).status_code == 404
    assert hub.anon.get("/healthz").status_code == 200


def test_body_limit_is_exactly_one_mib(hub):
    key = uniq("nearbig/")
    hub.editor.put_item(email_only(key))

    def patch(size):
        raw = b'{"title": "' + b"y" * (size - 13) + b'"}'
        assert len(raw) == size
        return raw_request(hub.port, "PATCH", "/v1/items/" + key,
                           [("Authorization", "Bearer " + hub.tokens["editor"]),
                            ("Content-Type", "application/merge-patch+json"),
                            ("Content-Length", str(size))], body=raw)[0]

    status, _, body = patch(MIB)  # read whole and judged on its content (a 500-byte title)
    assert status == 422, (status, body[:300])
    status, _, body = patch(MIB + 1)
    assert status == 413, (status, body[:300])
    assert hub.editor.ok("GET", "/v1/items/" + key)["title"] == "Item " + key


def test_422_lists_every_problem_with_json_pointers(hub):
    key = uniq("bad/")
    body = {"key": key, "kind": "poem", "title": 5, "extra": True,
            "variants": [{"id": "bad id!", "content": {"en": {"fax": {"x": "y"}}}},
                         {"id": "ok", "weight": -1, "content": {"a/b": {}}}]}
    r = hub.editor.put("/v1/items/" + key, body)
    b = assert_problem(r, 422, paths=["/kind", "/title", "/extra", "/variants/0/id",
                                      "/variants/0/content/en/fax", "/variants/1/weight",
                                      "/variants/1/content/a~1b"])
    assert len(b["errors"]) >= 7
    assert hub.editor.get("/v1/items/" + key).status_code == 404


def test_422_unknown_channel_field_and_wrong_types(hub):
    key = uniq("bad/")
    body = message(key, variants=[{"id": "control", "content": {"en": {
        "email": {"subject": 7, "html": "<p>x</p>", "colour": "red"},
        "sms": {"text": ["not", "a", "string"]}}}}])
    assert_problem(hub.editor.put("/v1/items/" + key, body), 422,
                   paths=["/variants/0/content/en/email/subject",
                          "/variants/0/content/en/email/colour",
                          "/variants/0/content/en/sms/text"])


def test_422_non_object_body(hub):
    for raw in [b"[]", b"42", b'"s"', b"null"]:
        r = hub.admin.put("/v1/locales/fr", raw=raw, content_type="application/json")
        assert_problem(r, 422)


def test_422_token_and_locale_bodies_list_every_problem(hub):
    r = hub.admin.post("/v1/tokens", {"name": "bad name!", "role": "king", "colour": 1})
    assert_problem(r, 422, paths=["/name", "/role"])
    r = hub.admin.put("/v1/locales/fr", {"name": 5, "fallback": 7})
    assert_problem(r, 422, paths=["/name", "/fallback"])


def test_errors_never_leak_a_500(hub):
    odd = ["/v1/items/" + "a/" * 150 + "b", "/v1/items/" + "k" * 300,
           "/v1/content/" + "%00", "/v1/items?q=" + "%ff", "/v1/taxonomy/" + "/" * 40,
           "/v1/items/a//b", "/v1/items/../../etc/passwd", "/v1/locales/" + "x" * 500,
           "/v1/audit?since=not-a-time", "/v1/items?limit=99999999999999999999999",
           "/v1/items/publish", "/v1/items/x/versions/-1", "/v1/items/x/versions/abc",
           "/v1/items/x/versions/99999999999999999999"]
    for path in odd:
        for role in ("admin", "delivery"):
            r = hub.as_(role).get(path)
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
            assert_problem(r, r.status_code)
