"""Fixtures of the end-to-end API tests.

`hub`: one server for the whole session, with a token per role (created with the command line
before the start) and a few locales and taxonomy terms every test may use; tests name their own
items with helpers.uniq() so they never collide. `fresh_hub`: a server of its own for one test
module, with an empty store (locales, defaults). `make_hub`: a factory for a test that needs a
special configuration or must stop the server itself. Every server is stopped with SIGTERM at
the end, and must exit 0 with no sanitizer report on stderr.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import BIN, SAMPLES, Hub, cli, seed  # noqa: E402


def _check_binary():
    if not os.access(BIN, os.X_OK):
        pytest.exit("no omnihub binary at %s (set OMNIHUB_BIN)" % BIN, returncode=2)


@pytest.fixture(scope="session")
def hub():
    _check_binary()
    h = Hub().start()
    try:
        seed(h)
        yield h
    finally:
        h.finish()
        shutil.rmtree(h.data, ignore_errors=True)


@pytest.fixture(scope="module")
def fresh_hub():
    _check_binary()
    h = Hub().start()
    try:
        yield h
    finally:
        h.finish()
        shutil.rmtree(h.data, ignore_errors=True)


@pytest.fixture
def make_hub():
    """make_hub(config=None, seeded=True, samples=False) -> a started Hub, finished after the
    test; samples: content-samples/ imported with the command line before the start."""
    _check_binary()
    made = []

    def make(config=None, seeded=True, samples=False, **kw):
        h = Hub(config=config, **kw)
        made.append(h)
        if samples:
            cli("import", "--data", h.data, SAMPLES)
        h.start()
        return seed(h) if seeded else h

    yield make
    failures = []
    for h in made:
        try:
            h.finish()
        except AssertionError as e:
            failures.append(str(e))
        shutil.rmtree(h.data, ignore_errors=True)
    assert not failures, "\n".join(failures)


@pytest.fixture
def sample_hub(make_hub):
    """sample_hub(config=None) -> a started Hub holding content-samples/ (not seeded)."""
    return lambda cfg=None: make_hub(config=cfg, seeded=False, samples=True)
