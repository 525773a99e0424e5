"""`omnihub import` of the shipped sample set (content-samples/) into a fresh data directory,
then reads through the API of what the samples promise; importing again changes nothing;
a bad file is reported. `omnihub backup` while the server serves and writes gives a store that
a server can open, with everything acknowledged before the backup began."""
import json
import os
import re
import shutil
import tempfile
import threading
import time

import pytest

from helpers import SAMPLES, Hub, assert_problem, cli, email_only, running_hub, sample_items, uniq


@pytest.fixture(scope="module")
def samples():
    with running_hub(samples=True) as h:
        yield h


def test_import_reports_everything_imported(samples):
    p = samples.import_result
    assert p.returncode == 0, p.stderr
    items = sample_items()
    published = sum(1 for i in items if i.get("status") == "published")
    last = (p.stdout.strip() or p.stderr.strip()).splitlines()[-1]
    m = re.match(r"imported (\d+) locales, (\d+) terms, (\d+) items \((\d+) published\), "
                 r"(\d+) journeys; 0 files rejected", last)
    assert m, last
    assert m.group(1) == "4" and int(m.group(3)) == len(items) and int(m.group(4)) == published
    assert m.group(5) == "2"


def test_austrian_reader_follows_the_chain(samples):
    r = samples.delivery.get("/v1/content/onboarding/welcome",
                             params={"channel": "email", "locale": "de-AT"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["fields"]["subject"].startswith("Grüß Gott")
    assert b["resolved_from"]["subject"] == {"variant": "control", "locale": "de-AT"}
    assert b["fields"]["html"].startswith("<h1>Hallo")
    assert b["resolved_from"]["html"] == {"variant": "control", "locale": "de"}
    assert r.headers["ETag"] and "onboarding/welcome" in r.headers.get("Surrogate-Key", "")


def test_french_reader_of_short_gets_the_french_subject_of_control(samples):
    b = samples.delivery.ok("GET", "/v1/content/onboarding/welcome",
                            params={"channel": "email", "locale": "fr", "variant": "short"})
    assert b["variant"] == "short" and b["fields"]["subject"].startswith("Bienvenue chez")
    assert b["resolved_from"]["subject"] == {"variant": "control", "locale": "fr"}
    sms = samples.delivery.ok("GET", "/v1/content/onboarding/welcome",
                              params={"channel": "sms", "locale": "fr"})
    assert sms["resolved_from"]["text"]["locale"] == "en"
    assert sms["fields"]["text"].startswith("Welcome to Northwind")


def test_every_published_sample_is_served_and_drafts_are_not(samples):
    for item in sample_items():
        base = item["variants"][0]["content"]
        locale = "en" if "en" in base else sorted(base)[0]
        for channel in sorted(base[locale]):
            r = samples.delivery.get("/v1/content/" + item["key"],
                                     params={"channel": channel, "locale": locale})
            if item.get("status") == "published":
                assert r.status_code == 200, (item["key"], channel, r.text)
                assert r.json()["version"] == 1
            else:
                assert_problem(r, 404)
                d = samples.preview.get("/v1/content/" + item["key"],
                                        params={"channel": channel, "locale": locale,
                                                "status": "draft"})
                assert d.status_code == 200, (item["key"], d.text)


def test_listing_by_journey_tag(samples):
    want = {i["key"] for i in sample_items()
            if any(t == "journey/onboarding" or t.startswith("journey/onboarding/")
                   for t in i.get("tags", []))}
    assert len(want) == 4
    got = {i["key"] for i in samples.editor.all_items("/v1/items",
                                                      {"tag": "journey/onboarding"})}
    assert got == want
    j = samples.delivery.ok("GET", "/v1/journeys/journey/onboarding")
    with open(os.path.join(SAMPLES, "journeys", "onboarding.json"), encoding="utf-8") as f:
        doc = json.load(f)
    assert [s["item"] for s in j["steps"]] == [s["item"] for s in doc["steps"]]


def test_reimport_while_serving_changes_nothing(samples):
    before = samples.delivery.changes_all()
    drafts = {i["key"]: i["revision"] for i in samples.editor.all_items("/v1/items")}
    p = cli("import", "--data", samples.data, SAMPLES, check=False)
    assert p.returncode == 0, p.stderr
    assert samples.delivery.changes_all() == before
    after = {i["key"]: i["revision"] for i in samples.editor.all_items("/v1/items")}
    assert after == drafts


def test_bad_files_are_reported(samples):
    d = tempfile.mkdtemp(prefix="omnihub-bad-")
    try:
        with open(os.path.join(d, "broken.json"), "w") as f:
            f.write('{"locales": [}')
        with open(os.path.join(d, "odd.json"), "w") as f:
            f.write('{"colour": "red"}')
        p = cli("import", "--data", samples.data, d, check=False)
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert "broken.json" in p.stderr and "odd.json" in p.stderr, p.stderr
        assert "2 files rejected" in p.stdout + p.stderr
    finally:
        shutil.rmtree(d)
    assert samples.delivery.get("/v1/locales").status_code == 200


def test_backup_while_serving(samples):
    acked, stop = [], threading.Event()

    def writer():
        while not stop.is_set():
            key = uniq("bk/")
            if samples.editor.put("/v1/items/" + key, email_only(key)).status_code == 201:
                acked.append(key)

    t = threading.Thread(target=writer)
    t.start()
    try:
        deadline = time.time() + 20
        while len(acked) < 5 and time.time() < deadline:
            time.sleep(0.01)
        assert len(acked) >= 5, "the writer got no 201 answers"
        before_backup = list(acked)
        out = os.path.join(tempfile.mkdtemp(prefix="omnihub-backup-"), "copy")
        p = cli("backup", "--data", samples.data, out, check=False)
    finally:
        stop.set()
        t.join()
    assert p.returncode == 0, p.stderr
    copy = Hub(data=out, tokens=samples.tokens).start()
    try:
        assert copy.delivery.get("/v1/content/onboarding/welcome",
                                 params={"channel": "email"}).status_code == 200
        keys = {i["key"] for i in copy.editor.all_items("/v1/items")}
        missing = [k for k in before_backup if k not in keys]
        assert not missing, "acknowledged before the backup, missing from it: %s" % missing
        assert len(keys) >= len(sample_items()) + len(before_backup)
        # the copy is a working store: it takes writes
        key = uniq("bk/")
        assert copy.editor.put("/v1/items/" + key, email_only(key)).status_code == 201
    finally:
        copy.finish()
        shutil.rmtree(os.path.dirname(out), ignore_errors=True)
