"""Golden artifacts of the four channel plugins over the sample set: `omnihub import` of
content-samples/ into a fresh data directory, then `omnihub render` with a fixed message id,
clock, subject and attributes, compared (as JSON values) with tests/golden/<item with / as
__>.<channel>.<locale>.json. Every golden file was read and checked by hand (the decoded
subject, the quoted-printable bodies, the blocks rendered in, the locale each field fell back
to, the SMS segments, the push payload sizes).

OMNIHUB_GOLDEN_UPDATE=1 writes the files instead of comparing; read every changed file before
committing it: a golden is what the product should produce, not whatever it produces."""
import json
import os
import shutil
import tempfile

import pytest

from helpers import ROOT, SAMPLES, cli

GOLDEN = os.path.join(ROOT, "tests", "golden")
UPDATE = os.environ.get("OMNIHUB_GOLDEN_UPDATE") == "1"
ATTRS = {"first_name": "Jörg", "card_last4": "4242", "balance": 1500,
         "unsubscribe_url": "https://northwind.example/u/cust-42"}

CASES = [
    ("onboarding/welcome", "email", "en"),
    ("onboarding/welcome", "email", "de-AT"),
    ("onboarding/welcome", "sms", "de"),
    ("onboarding/welcome", "mobile", "fr"),
    ("students/student-account", "web", "en"),
    ("students/student-account", "sms", "de-AT"),
    ("students/student-account", "sms", "fr"),
    ("onboarding/activate-card", "email", "de"),
    ("onboarding/activate-card", "mobile", "de"),
    ("campaigns/spring-savings-boost", "email", "de"),
    ("campaigns/spring-savings-boost", "web", "de-AT"),
]


def golden_path(key, channel, locale):
    return os.path.join(GOLDEN, "%s.%s.%s.json" % (key.replace("/", "__"), channel, locale))


@pytest.fixture(scope="module")
def data():
    d = tempfile.mkdtemp(prefix="omnihub-golden-")
    try:
        cli("import", "--data", d, SAMPLES)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def base_variant(key):
    """Goldens render the base variant: which variant a subject gets is the experiment's
    business (tests/api/test_experiments.py), what a variant renders to is theirs."""
    with open(os.path.join(SAMPLES, "messages", key + ".json"), encoding="utf-8") as f:
        return json.load(f)["variants"][0]["id"]


def render_cli(data, key, channel, locale):
    p = cli("render", "--data", data, "--item", key, "--channel", channel, "--locale", locale,
            "--variant", base_variant(key),
            "--message-id", "golden-0001", "--now", "2027-03-01T09:00:00Z", "--subject",
            "cust-42", "--attributes", json.dumps(ATTRS, ensure_ascii=False))
    return json.loads(p.stdout)


@pytest.mark.parametrize("key,channel,locale", CASES)
def test_golden(data, key, channel, locale):
    got = render_cli(data, key, channel, locale)
    path = golden_path(key, channel, locale)
    if UPDATE:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(got, f, ensure_ascii=False, indent=2)
            f.write("\n")
        return
    assert os.path.exists(path), "no golden file %s (OMNIHUB_GOLDEN_UPDATE=1 writes it)" % path
    with open(path, encoding="utf-8") as f:
        want = json.load(f)
    if got != want:
        diff = [k for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)]
        art = [k for k in sorted(set(got.get("artifact", {})) | set(want.get("artifact", {})))
               if got.get("artifact", {}).get(k) != want.get("artifact", {}).get(k)]
        pytest.fail("%s differs from %s in %s (artifact: %s)\ngot:  %s\nwant: %s" % (
            os.path.basename(path), key, diff, art,
            json.dumps(got, ensure_ascii=False)[:3000],
            json.dumps(want, ensure_ascii=False)[:3000]))


def test_render_is_deterministic_with_a_fixed_id_and_clock(data):
    """The goldens rely on it: the same inputs give the same bytes."""
    a = render_cli(data, "onboarding/welcome", "email", "de-AT")
    b = render_cli(data, "onboarding/welcome", "email", "de-AT")
    assert a == b
    assert "Date: Mon, 01 Mar 2027 09:00:00 +0000\r\n" in a["artifact"]["mime"]
    assert "Message-ID: <golden-0001@localhost>\r\n" in a["artifact"]["mime"]


def test_every_golden_file_has_a_case():
    """A golden whose case was removed would never be checked again."""
    if UPDATE or not os.path.isdir(GOLDEN):
        return
    known = {os.path.basename(golden_path(*c)) for c in CASES}
    extra = sorted(f for f in os.listdir(GOLDEN) if f.endswith(".json") and f not in known)
    assert not extra, "golden files without a case: %s" % extra
