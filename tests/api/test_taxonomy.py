"""Taxonomy terms: paths within the six facets, parents first, the whole tree and one term with
its children and item count, 409 when a term with children or items is deleted, and item tags
that must name existing terms."""
from helpers import assert_problem, email_only, uniq


def test_parents_must_exist(hub):
    top = "product/" + uniq("tx")
    r = hub.admin.put("/v1/taxonomy/%s/child" % top, {"label": "Child"})
    assert_problem(r, 422)
    assert hub.admin.get("/v1/taxonomy/%s/child" % top).status_code == 404
    r = hub.admin.put("/v1/taxonomy/" + top, {"label": "Top", "description": "the parent"})
    assert r.status_code == 201, r.text
    r = hub.admin.put("/v1/taxonomy/%s/child" % top, {"label": "Child"})
    assert r.status_code == 201, r.text
    r = hub.admin.put("/v1/taxonomy/%s/child" % top, {"label": "Child, renamed"})
    assert r.status_code == 200, r.text


def test_term_children_and_item_count(hub):
    top = "product/" + uniq("tx")
    hub.admin.ok("PUT", "/v1/taxonomy/" + top, {"label": "Top", "description": "About top"})
    for c in ("a", "b"):
        hub.admin.ok("PUT", "/v1/taxonomy/%s/%s" % (top, c), {"label": c.upper()})
    hub.editor.put_item(email_only(uniq("tx/"), tags=[top + "/a"]))
    term = hub.delivery.ok("GET", "/v1/taxonomy/" + top)
    assert term["label"] == "Top" and term["description"] == "About top"
    kids = [c if isinstance(c, str) else (c.get("term") or c.get("path"))
            for c in term["children"]]
    assert sorted(k.rsplit("/", 1)[-1] for k in kids) == ["a", "b"], term
    assert hub.delivery.ok("GET", "/v1/taxonomy/%s/a" % top)["item_count"] == 1
    assert hub.delivery.ok("GET", "/v1/taxonomy/%s/b" % top)["item_count"] == 0


def test_whole_tree_lists_the_facets_and_terms(hub):
    top = "segment/" + uniq("tx")
    hub.admin.ok("PUT", "/v1/taxonomy/" + top, {"label": "Tree test"})
    tree = hub.preview.ok("GET", "/v1/taxonomy")
    text = str(tree)
    for facet in ("journey", "campaign", "product", "channel", "segment", "action"):
        assert facet in text, tree
    assert top.split("/")[1] in text and "Tree test" in text


def test_delete_409_with_children_or_items(hub):
    top = "campaign/" + uniq("tx")
    hub.admin.ok("PUT", "/v1/taxonomy/" + top, {"label": "Top"})
    hub.admin.ok("PUT", "/v1/taxonomy/%s/kid" % top, {"label": "Kid"})
    assert_problem(hub.admin.delete("/v1/taxonomy/" + top), 409)
    key = uniq("tx/")
    hub.editor.put_item(email_only(key, tags=[top + "/kid"]))
    assert_problem(hub.admin.delete("/v1/taxonomy/%s/kid" % top), 409)
    # a published version keeps using the term after the draft moved on? only the item counts
    hub.editor.ok("DELETE", "/v1/items/" + key)
    assert hub.admin.delete("/v1/taxonomy/%s/kid" % top).status_code == 204
    assert hub.admin.delete("/v1/taxonomy/" + top).status_code == 204
    assert_problem(hub.admin.get("/v1/taxonomy/" + top), 404)
    assert_problem(hub.admin.delete("/v1/taxonomy/" + top), 404)


def test_bad_terms(hub):
    for path in ["colour/red", "product", "product/Bad Name", "product//x"]:
        r = hub.admin.put("/v1/taxonomy/" + path, {"label": "x"})
        assert r.status_code in (400, 404, 422), (path, r.status_code, r.text)
        assert_problem(r, r.status_code)
    top = "action/" + uniq("tx")
    assert_problem(hub.admin.put("/v1/taxonomy/" + top, {"label": 3, "colour": "red"}), 422,
                   paths=["/label", "/colour"])
    assert_problem(hub.admin.put("/v1/taxonomy/" + top, {"label": "x" * 201}), 422,
                   paths=["/label"])


def test_item_tags_must_be_known_terms(hub):
    key = uniq("tx/")
    r = hub.editor.put("/v1/items/" + key, email_only(key, tags=[
        "product/accounts", "product/nope", "colour/red"]))
    assert_problem(r, 422, paths=["/tags/1", "/tags/2"])
