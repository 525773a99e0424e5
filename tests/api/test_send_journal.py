"""Sends answered from the journal (docs/send-durability.md): a send's 202 comes once its
batch is flushed to the data directory's journal, before LMDB commits it. These tests hold the
hub to what that must not change: a client that has its 202 reads its delivery at once (every
request but a send waits for the commit); an idempotency key repeated at once gets the first
answer; the journal is what the sends use (its counters move); and a kill -9 right after the
answers loses none of them: the restart replays the journal."""
import concurrent.futures

from helpers import uniq
from test_send import DAY1, all_deliveries, config, metric, recipient, send


def test_a_delivery_is_readable_right_after_its_202(sample_hub):
    h = sample_hub(config())
    for _ in range(25):
        ans = send(h.delivery, {"recipient": recipient(), "channels": ["email"]})
        did = ans["deliveries"][0]["id"]
        r = h.delivery.get("/v1/deliveries/%s" % did)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == did
    assert metric(h, "omnihub_store_writer_journaled_total") >= 1
    assert metric(h, "omnihub_store_journal_flushes_total") >= 1


def test_concurrent_sends_are_all_listed_at_once(sample_hub):
    """16 clients send at once; the moment the last 202 is in, the status lists hold them all."""
    h = sample_hub(config())
    before = all_deliveries(h.delivery)

    def one(_):
        return send(h.delivery, {"recipient": recipient(), "channels": ["email"]})
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        answers = list(ex.map(one, range(64)))
    ids = {d["id"] for a in answers for d in a["deliveries"]}
    assert len(ids) == 64
    assert ids <= all_deliveries(h.delivery) - before


def test_a_key_repeated_at_once_gets_the_first_answer(sample_hub):
    h = sample_hub(config())
    for _ in range(10):
        key, body = uniq("idem-"), {"recipient": recipient()}
        first = send(h.delivery, body, headers={"Idempotency-Key": key})
        r = h.delivery.post(DAY1, body, headers={"Idempotency-Key": key})
        assert r.status_code == 202 and r.json() == first, r.text
        assert r.headers.get("Idempotent-Replayed") == "true"


def test_kill_9_right_after_the_answers_loses_none(sample_hub):
    """No pause between the last 202 and the kill: LMDB commits journaled batches only every
    few milliseconds, so the restart must find them in the journal."""
    h = sample_hub(config(workers=1))
    answers = []
    for _ in range(3):
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            answers += list(ex.map(
                lambda _: send(h.delivery, {"recipient": recipient(), "channels": ["email"]},
                               headers={"Idempotency-Key": uniq("k-")}), range(40)))
        h.server.kill9()
        h.restart()
    ids = {d["id"] for a in answers for d in a["deliveries"]}
    assert len(ids) == 120
    assert ids <= all_deliveries(h.delivery)
    for a in answers:
        did = a["deliveries"][0]["id"]
        assert h.delivery.get("/v1/deliveries/%s" % did).status_code == 200
    assert "replayed" in h.server.stderr(), "no restart found journaled sends to replay"
