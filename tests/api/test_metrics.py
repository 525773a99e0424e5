"""GET /metrics: Prometheus text format without a token; the counters move with the traffic."""
import re

from helpers import email_only, uniq


def scrape(hub):
    r = hub.anon.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = {}
    for line in r.text.splitlines():
        if line.startswith("#"):
            assert re.match(r"# (HELP|TYPE) omnihub_\w+ ", line), line
            continue
        name, value = line.split(" ")
        values[name] = float(value)  # Prometheus values are floats (seconds are)
    return values


def test_metrics_count_requests_and_commits(hub):
    before = scrape(hub)
    for name in ("omnihub_http_requests_total", "omnihub_http_connections",
                 "omnihub_store_commits_total", "omnihub_store_map_used_bytes"):
        assert name in before, before
    key = uniq("metrics/")
    hub.editor.put_item(email_only(key))
    for _ in range(3):
        assert hub.delivery.get("/v1/items").status_code == 200
    after = scrape(hub)
    assert after["omnihub_http_requests_total"] >= before["omnihub_http_requests_total"] + 5
    assert after["omnihub_store_commits_total"] > before["omnihub_store_commits_total"]
    assert after["omnihub_http_connections"] >= 1
    assert after["omnihub_store_map_used_bytes"] > 0
    # the group commit: the put was one operation of at least one more batch
    def moved(name):
        return after["omnihub_store_writer_%s" % name] - before["omnihub_store_writer_%s" % name]
    batches, ops = moved("batches_total"), moved("ops_total")
    assert batches >= 1 and ops >= batches
    busy = after["omnihub_store_writer_busy_seconds_total"]
    commit = after["omnihub_store_writer_commit_seconds_total"]
    assert moved("busy_seconds_total") > 0
    assert 0 < commit <= busy


def test_metrics_is_read_only(hub):
    r = hub.anon.request("POST", "/metrics")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    assert r.headers["Content-Type"] == "application/problem+json"
