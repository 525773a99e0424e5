#!/usr/bin/python3
"""Benchmark of the translation workflow (XLIFF export and import), run by hand (never by the
test suite).

  OMNIHUB_BIN=build/omnihub /usr/bin/python3 tests/bench/xliff_bench.py [--items 600]
      [--threads 1] [--rounds 3] [--perf FILE]

Starts two hubs (fresh data directories, --threads T, max_body_bytes raised to 64 MiB),
each with the locales en (default) and de and the same --items items: 2 variants, each with
English email (subject, preheader, html with Liquid and HTML tags), sms text, mobile
title/body and web title/html (about 1.5 KB of text per item, 16 string fields). Then:
  export  GET /v1/translations/export?locale=de&format=xliff2 and xliff12 on hub A,
          alternating, best of 3: units/s and MB/s of XLIFF produced;
  import  every <target> of the XLIFF 2.0 export filled (the source copied with its inline
          codes kept, its text put into pseudo-German; xml.etree), POSTed to hub A as
          application/xliff+xml: units/s. A document over the hub's XLIFF limit (16 MiB,
          HUB_XLIFF_MAX_INPUT) goes as the fewest documents of whole <file>s under it, one
          after the other on one connection (the export's 12 MiB cap keeps 600 items in one). Each unit is judged in the writer (codes, Liquid,
          the publish check of its channel before and after), so this is the number that
          matters. The report must say every unit was imported and nothing was rejected;
  (ref)   the same content change through the JSON API on hub B: PUT /v1/items/{key} of
          every item with the German strings the import produced added (read back from hub
          A's drafts), sequential, one keep-alive http.client connection: fields/s.
Import and (ref) alternate for --rounds rounds (round 1 adds the German strings, later
rounds write the same strings again: the same checks and writes); the best of each is
printed, with the ratio import units/s / (ref) fields/s. Also printed: how long libxml2 alone
takes to parse the filled document (xmllint --noout, the tree the hub's reader builds, and
xmllint --sax, the tokenizer alone; best of 3; python's xml.etree when xmllint is missing), to
set against the import, the hub's CPU time and its busiest threads, and the longest GET
/healthz seen during the import (a probe every 10 ms on its own connection: the document is
parsed on the loop thread).
--perf FILE records the hub during the first import with `perf record -g` into FILE and
prints the top of `perf report` (needs perf).

Standard library only. Everything runs on 127.0.0.1.
"""
import argparse
import copy
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import BIN, Server, call, wait_http  # noqa: E402
from send_bench import busiest, cpu_seconds, thread_cpu  # noqa: E402

NS2 = "urn:oasis:names:tc:xliff:document:2.0"
NS12 = "urn:oasis:names:tc:xliff:document:1.2"
NSOH = "urn:omnihub:xliff:1"
MAX_BODY = 64 << 20
MAX_INPUT = 16 << 20  # HUB_XLIFF_MAX_INPUT (core/xml/xml.h): a bigger document is a 413
XLIFF_TYPE = "application/xliff+xml"

# ---- content -------------------------------------------------------------------------------


def english(i, v):
    """The English fields of variant v ("control" or "short") of item i: about 730 bytes."""
    short = v == "short"
    return {
        "email": {
            "subject": ("New rate: 3.1%% on your savings, {{ first_name }} (%d)" % i if short else
                        "{{ first_name | default: 'Hello' }}, your savings rate just went up"),
            "preheader": "Earn more on every euro you save. No action needed.",
            "html": ("<h1>Hello {{ first_name | default: 'there' }}</h1>"
                     "<p>Good news: from <strong>{{ rate_date }}</strong> your savings account "
                     "earns a higher rate.</p><p>{%% if vip %%}As a premium customer you also get "
                     "a bonus.{%% endif %%}</p><p><a href=\"https://bank.example/savings?c=%d%s\">"
                     "See your new rate</a></p>" % (i, v[0]))},
        "sms": {"text": "Hi {{ first_name }}, your savings rate went up to 3.1%. Details in the "
                        "app. Reply STOP to opt out."},
        "mobile": {"title": "Your rate went up" if not short else "Good news about your rate",
                   "body": "{{ first_name }}, your savings now earn 3.1% a year. Tap to see "
                           "more."},
        "web": {"title": "Higher savings rate from today",
                "html": "<p>Your savings account now earns <strong>3.1%</strong> a year.</p>"
                        "<p><a href=\"/savings\">Learn more</a></p>"},
    }


def item(i):
    return {"kind": "message", "title": "Savings rate %d" % i, "tags": ["campaign/bench"],
            "variants": [{"id": v, "weight": 50, "content": {"en": english(i, v)}}
                         for v in ("control", "short")]}


def key(i):
    return "bench/rate-%d" % i


def nfields(it):
    return sum(len(f) for v in it["variants"] for f in v["content"]["en"].values())


def text_bytes(it):
    return sum(len(s.encode()) for v in it["variants"] for f in v["content"]["en"].values()
               for s in f.values())


# A word-level pseudo-German: about as long as real German, GSM-7 safe (sms stays one text).
DE = {"hello": "Hallo", "hi": "Hallo", "new": "Neuer", "rate": "Zinssatz", "on": "auf",
      "your": "Ihr", "savings": "Sparkonto", "just": "gerade", "went": "ist", "up": "gestiegen",
      "earn": "Verdienen", "more": "mehr", "every": "jeden", "euro": "Euro", "you": "Sie",
      "save": "sparen", "starting": "ab", "today": "heute", "no": "Keine", "action": "Aktion",
      "needed": "nötig", "good": "Gute", "news": "Nachrichten", "from": "ab",
      "account": "Konto", "earns": "bringt", "a": "einen", "higher": "höheren", "as": "Als",
      "premium": "Premium", "customer": "Kunde", "customers": "Kunden", "also": "auch",
      "get": "erhalten", "bonus": "Bonus", "deposits": "Einlagen", "move": "Zahlen",
      "money": "Geld", "in": "ein", "to": "um", "make": "machen", "the": "das", "most": "Beste",
      "of": "aus", "it": "daraus", "see": "Sehen", "details": "Details", "app": "App",
      "reply": "Antworten", "opt": "abzumelden", "out": "mit STOP", "now": "jetzt",
      "year": "Jahr", "tap": "Tippen", "what": "was", "means": "bedeutet", "for": "für",
      "learn": "Mehr", "about": "über", "there": "zusammen", "with": "mit", "we": "wir",
      "stop": "STOP"}


def german(s):
    if not s:
        return s

    def one(m):
        w = m.group(0)
        t = DE.get(w.lower())
        if t is None:
            return w
        return t[0].upper() + t[1:] if w[0].isupper() else t
    return re.sub(r"[A-Za-z]+", one, s)


# ---- XLIFF ---------------------------------------------------------------------------------


def fill_targets(doc):
    """The document with every unit's target filled (codes kept, text in pseudo-German) and
    the number of targets written."""
    ET.register_namespace("", NS2 if NS2 in doc[:400].decode() else NS12)
    ET.register_namespace("oh", NSOH)
    root = ET.fromstring(doc)
    ns = root.tag[1:].split("}")[0]
    parents = (root.iter("{%s}segment" % ns) if ns == NS2 else root.iter("{%s}trans-unit" % ns))
    n = 0
    for parent in parents:
        src = parent.find("{%s}source" % ns)
        tgt = copy.deepcopy(src)
        tgt.tag = "{%s}target" % ns
        tgt.tail = src.tail
        for el in tgt.iter():
            el.text = german(el.text)
            if el is not tgt:
                el.tail = german(el.tail)
        parent.insert(list(parent).index(src) + 1, tgt)
        parent.set("state", "translated")
        n += 1
    return root, n


def serialize(root):
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def split_docs(root, limit=MAX_INPUT):
    """The filled document as the fewest documents (whole <file>s, in order) the hub takes:
    each at most `limit` bytes."""
    files = list(root)
    sizes = [len(ET.tostring(f, encoding="utf-8")) for f in files]
    parts, cur, size = [], [], 0
    for f, s in zip(files, sizes):
        if cur and size + s > limit * 0.97:
            parts.append(cur)
            cur, size = [], 0
        cur.append(f)
        size += s
    if cur:
        parts.append(cur)
    docs = []
    for part in parts:
        r = ET.Element(root.tag, root.attrib)
        r.extend(part)
        d = serialize(r)
        if len(d) > limit:
            raise RuntimeError("a part of %d bytes is over the hub's %d" % (len(d), limit))
        docs.append(d)
    return docs


def parse_reference(path, body):
    """[(what, best of 3 seconds)] of parsing the document outside the hub: xmllint --noout
    (libxml2 building the tree, as the hub's reader does) and xmllint --sax --noout (the
    tokenizer alone), less the process start; python's xml.etree when xmllint is missing."""
    def best3(cmd):
        best = None
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            best = min(best or 1e9, time.perf_counter() - t)
        return best
    if shutil.which("xmllint"):
        with tempfile.NamedTemporaryFile(suffix=".xml") as tiny:
            tiny.write(b"<a/>")
            tiny.flush()
            t0 = best3(["xmllint", "--noout", tiny.name])
        tree = best3(["xmllint", "--noout", path])
        return [("xmllint --noout (libxml2 tree)", max(0.0, tree - t0)),
                ("xmllint --sax --noout (no tree)",
                 max(0.0, best3(["xmllint", "--sax", "--noout", path]) - t0))], t0
    best = None
    for _ in range(3):
        t = time.perf_counter()
        ET.fromstring(body)
        best = min(best or 1e9, time.perf_counter() - t)
    return [("python xml.etree (no xmllint; rough)", best)], 0.0


# ---- HTTP ----------------------------------------------------------------------------------


class Client:
    """One keep-alive connection to a hub."""

    def __init__(self, srv):
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)
        self.auth = "Bearer " + srv.token

    def req(self, method, path, body=None, ctype="application/json"):
        headers = {"Authorization": self.auth}
        if body is not None:
            headers["Content-Type"] = ctype
        self.conn.request(method, path, body, headers)
        r = self.conn.getresponse()
        return r.status, r.getheaders(), r.read()


def start_hub(threads):
    """A bench.Server restarted with max_body_bytes raised (the export is several MB), with
    the locales en (default) and de."""
    srv = Server(threads)
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=30)
    cfg = os.path.join(srv.dir, "config.json")
    with open(cfg) as f:
        conf = json.load(f)
    conf["max_body_bytes"] = MAX_BODY
    with open(cfg, "w") as f:
        json.dump(conf, f)
    srv.proc = subprocess.Popen([BIN, "serve", "--data", srv.dir, "--listen",
                                 "127.0.0.1:%d" % srv.port, "--threads", str(threads),
                                 "--config", cfg], stderr=subprocess.DEVNULL)
    wait_http("http://127.0.0.1:%d/healthz" % srv.port)
    call(srv.port, srv.token, "PUT", "/v1/locales/en", {"name": "English", "default": True})
    call(srv.port, srv.token, "PUT", "/v1/locales/de", {"name": "Deutsch"})
    return srv


def parallel(srv, n, work, clients=8):
    """work(client, i) for i in range(n) from `clients` connections; raises on a failure."""
    errors, lock = [], threading.Lock()

    def run(c):
        cl = Client(srv)
        for i in range(c, n, clients):
            try:
                work(cl, i)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append("%d: %s" % (i, e))
                return
    ts = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("%d failures, first: %s" % (len(errors), errors[0]))


def create_items(srv, n):
    def put(cl, i):
        st, _, body = cl.req("PUT", "/v1/items/" + key(i), json.dumps(item(i)).encode())
        if st >= 300:
            raise RuntimeError("PUT %s: %d %s" % (key(i), st, body[:300]))
    parallel(srv, n, put)


def export(srv, fmt):
    cl = Client(srv)
    t = time.perf_counter()
    st, headers, body = cl.req("GET", "/v1/translations/export?locale=de&format=" + fmt)
    secs = time.perf_counter() - t
    if st != 200:
        raise RuntimeError("export %s: %d %s" % (fmt, st, body[:300]))
    units = int(dict((k.lower(), v) for k, v in headers)["x-omnihub-units"])
    return {"secs": secs, "units": units, "bytes": len(body), "body": body}


def import_docs(srv, docs, perf=None):
    """POSTs the documents one after the other on one connection; the reports merged."""
    pid = srv.proc.pid
    cl = Client(srv)
    cl.req("GET", "/v1/locales")  # connect first
    rec = None
    if perf:
        rec = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", perf, "-p",
                                str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    lat, done = [], threading.Event()

    def probe():
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)
        while not done.is_set():
            t = time.perf_counter()
            c.request("GET", "/healthz")
            c.getresponse().read()
            lat.append(time.perf_counter() - t)
            done.wait(0.01)
    prober = threading.Thread(target=probe)
    prober.start()
    c0, th0 = cpu_seconds(pid), thread_cpu(pid)
    t = time.perf_counter()
    answers = [cl.req("POST", "/v1/translations/import", d, XLIFF_TYPE) for d in docs]
    secs = time.perf_counter() - t
    c1, th1 = cpu_seconds(pid), thread_cpu(pid)
    done.set()
    prober.join()
    if rec is not None:
        rec.send_signal(signal.SIGINT)
        rec.wait()
    rep = {"imported": [], "untranslated": [], "rejected": [], "items": []}
    for st, _, body in answers:
        if st != 200:
            raise RuntimeError("import: %d %s" % (st, body[:600]))
        one = json.loads(body)
        for k in rep:
            rep[k] += one[k]
    return {"secs": secs, "report": rep, "cpu": c1 - c0, "busiest": busiest(th0, th1, secs),
            "healthz_max": max(lat) if lat else 0.0}


def german_items(srv, n):
    """{i: the item with hub A's German strings added} (read from A's drafts)."""
    out, lock = {}, threading.Lock()

    def get(cl, i):
        st, _, body = cl.req("GET", "/v1/items/%s?status=draft" % key(i))
        if st != 200:
            raise RuntimeError("GET %s: %d" % (key(i), st))
        draft = json.loads(body)
        it = item(i)
        for v, dv in zip(it["variants"], draft["variants"]):
            v["content"]["de"] = dv["content"]["de"]
        with lock:
            out[i] = json.dumps(it).encode()
    parallel(srv, n, get)
    return out


def reference(srv, bodies):
    """PUT every item with its German strings, sequentially on one keep-alive connection."""
    pid = srv.proc.pid
    cl = Client(srv)
    cl.req("GET", "/v1/locales")
    c0, th0 = cpu_seconds(pid), thread_cpu(pid)
    t = time.perf_counter()
    for i in range(len(bodies)):
        st, _, body = cl.req("PUT", "/v1/items/" + key(i), bodies[i])
        if st >= 300:
            raise RuntimeError("PUT %s: %d %s" % (key(i), st, body[:300]))
    secs = time.perf_counter() - t
    c1, th1 = cpu_seconds(pid), thread_cpu(pid)
    return {"secs": secs, "cpu": c1 - c0, "busiest": busiest(th0, th1, secs)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=600,
                   help="items; an export stops at 12 MiB (about 750 such items)")
    p.add_argument("--threads", type=int, default=1, help="the hubs' HTTP threads")
    p.add_argument("--rounds", type=int, default=3, help="import / (ref) rounds")
    p.add_argument("--perf", metavar="FILE", help="perf record the hub during the first import")
    args = p.parse_args()
    if args.perf and not shutil.which("perf"):
        sys.exit("xliff_bench: --perf needs perf")
    n = args.items
    load = os.getloadavg()
    a = start_hub(args.threads)
    b = None
    work = tempfile.mkdtemp(prefix="xliff-bench-")
    try:
        b = start_hub(args.threads)
        t = time.perf_counter()
        create_items(a, n)
        create_items(b, n)
        setup = time.perf_counter() - t
        fields = nfields(item(0))
        per_item = sum(text_bytes(item(i)) for i in range(min(n, 50))) / min(n, 50)

        # export, alternating formats, best of 3
        ex = {"xliff2": [], "xliff12": []}
        for _ in range(3):
            for fmt in ex:
                ex[fmt].append(export(a, fmt))
        bx = {fmt: min(rs, key=lambda r: r["secs"]) for fmt, rs in ex.items()}
        units = bx["xliff2"]["units"]
        if units != n * fields or bx["xliff12"]["units"] != units:
            print("    MISMATCH: export units %d / %d, expected %d" % (
                units, bx["xliff12"]["units"], n * fields))

        # the filled document
        t = time.perf_counter()
        root, ntargets = fill_targets(bx["xliff2"]["body"])
        doc = serialize(root)
        docs = split_docs(root)
        fill_secs = time.perf_counter() - t
        path = os.path.join(work, "filled.xlf")
        with open(path, "wb") as f:
            f.write(doc)
        parses, t0 = parse_reference(path, doc)
        parse_secs = parses[0][1]

        imp, ref, bodies = [], [], None
        for r in range(args.rounds):
            res = import_docs(a, docs, args.perf if r == 0 else None)
            rep = res["report"]
            ok = (len(rep["imported"]) == units and not rep["rejected"] and
                  not rep["untranslated"] and len(rep["items"]) == n)
            res["ok"] = ok
            if not ok:
                print("    MISMATCH round %d: imported %d of %d units, %d rejected (first %s), "
                      "%d untranslated, %d items" % (
                          r + 1, len(rep["imported"]), units, len(rep["rejected"]),
                          rep["rejected"][:1], len(rep["untranslated"]), len(rep["items"])))
            imp.append(res)
            if bodies is None:
                bodies = german_items(a, n)
            ref.append(reference(b, bodies))

        # after the import: nothing is left to translate
        st, _, _ = Client(a).req("GET", "/v1/translations/export?locale=de&format=xliff2")

        bi = min(imp, key=lambda r: r["secs"])
        br = min(ref, key=lambda r: r["secs"])
        imp_ups = units / bi["secs"]
        ref_fps = n * fields / br["secs"]
        print("omnihub %s, --threads %d, 2 hubs; %d items x %d string fields = %d units, "
              "%.0f bytes of English text per item; load average before %.2f %.2f %.2f, "
              "%d CPUs; setup %.1f s" % (BIN, args.threads, n, fields, n * fields, per_item,
                                         load[0], load[1], load[2], os.cpu_count(), setup))
        print("%-46s %9s %12s %10s %9s" % ("", "seconds", "units/s", "MB", "MB/s"))
        for fmt in ("xliff2", "xliff12"):
            r = bx[fmt]
            print("%-46s %9.3f %12.0f %10.2f %9.1f" % (
                "export %s (best of 3)" % fmt, r["secs"], r["units"] / r["secs"],
                r["bytes"] / 1e6, r["bytes"] / 1e6 / r["secs"]))
        print("%-46s %9.3f %12.0f %10.2f %9.1f" % (
            "import xliff2 filled, %d POST%s (best of %d)" % (
                len(docs), "" if len(docs) == 1 else "s", args.rounds), bi["secs"], imp_ups,
            len(doc) / 1e6, len(doc) / 1e6 / bi["secs"]))
        print("%-46s %9.3f %12.0f %10s %9s   (%.0f items/s)" % (
            "(ref) JSON PUT with de (best of %d)" % args.rounds, br["secs"], ref_fps,
            "", "", n / br["secs"]))
        for what, secs in parses:
            print("%-46s %9.3f %12.0f %10.2f %9.1f" % (
                "parse alone: " + what, secs, units / secs if secs else 0, len(doc) / 1e6,
                len(doc) / 1e6 / secs if secs else 0))
        print("    parse alone: best of 3 of the whole filled document, less %.1f ms of process "
              "start; python fill of %d targets %.2f s (not measured)"
              % (t0 * 1e3, ntargets, fill_secs))
        if len(docs) > 1:
            print("    the filled document (%d bytes) is over the hub's XLIFF limit of %d bytes "
                  "(HUB_XLIFF_MAX_INPUT): imported as %d documents of whole files (%s bytes)"
                  % (len(doc), MAX_INPUT, len(docs), ", ".join(str(len(d)) for d in docs)))
        print("    export rounds s: xliff2 %s; xliff12 %s" % (
            " ".join("%.3f" % r["secs"] for r in ex["xliff2"]),
            " ".join("%.3f" % r["secs"] for r in ex["xliff12"])))
        print("    import rounds: %s (round 1 adds the strings; all %s)" % (
            "; ".join("%.3f s, hub CPU %.2f s, busiest threads %s, healthz max %.0f ms" % (
                r["secs"], r["cpu"], r["busiest"], r["healthz_max"] * 1e3) for r in imp),
            "imported every unit, nothing rejected" if all(r["ok"] for r in imp) else
            "NOT IMPORTED WHOLE"))
        print("    (ref) rounds: %s" % "; ".join(
            "%.3f s, hub CPU %.2f s, busiest threads %s" % (r["secs"], r["cpu"], r["busiest"])
            for r in ref))
        print("    export after the import: %d (204 = nothing left to translate)" % st)
        print("RATIO import units/s / (ref) JSON fields/s: %.2f  (per item: import %.0f items/s, "
              "ref %.0f items/s)" % (imp_ups / ref_fps, n / bi["secs"], n / br["secs"]))
        ci, cr = min(r["cpu"] for r in imp), min(r["cpu"] for r in ref)
        print("RATIO hub CPU per string, import / (ref), lowest of the rounds: %.2f (%.0f us per "
              "unit, %.0f us per JSON field; less sensitive to the disk and to other load than "
              "the rates: (ref) waits on one durable commit per item)"
              % (ci / cr, ci * 1e6 / units, cr * 1e6 / (n * fields)))
        print("RATIO parse alone (libxml2 tree) / import time: %.2f; first import (round 1) "
              "%.0f units/s" % (parse_secs / bi["secs"], units / imp[0]["secs"]))
        if args.perf:
            out = subprocess.run(["perf", "report", "-i", args.perf, "--no-children",
                                  "--sort", "dso,symbol", "--stdio", "-g", "none",
                                  "--percent-limit", "1.5"], capture_output=True, text=True)
            print("perf (first import, self time, >= 1.5%):")
            for line in out.stdout.splitlines():
                if line.strip() and not line.startswith("#"):
                    print("    " + line.rstrip())
    finally:
        a.stop()
        if b is not None:
            b.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
