#!/usr/bin/env python3
"""S7 of tests/bench/run: the console's queue page as a browser loads it.

    console_queue.py PORT CA CERT KEY REQUESTS OUT.json

Keeps one HTTPS connection (TLS 1.3, the editor's client certificate),
sends REQUESTS times POST /api/op/queue for the first page (50 items, the
page's default filter) with the headers a console page sends, checks each
answer is 200 with 50 items, and writes the latency percentiles in
milliseconds to OUT.json.
"""
import http.client
import json
import ssl
import sys
import time

port, ca, cert, key, n, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
PAGE = 50

ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(cert, key)
conn = http.client.HTTPSConnection("localhost", int(port), context=ctx, timeout=30)
origin = "https://localhost:%s" % port
body = json.dumps({"filter": {}, "limit": PAGE})
headers = {"Origin": origin, "X-Minyi-Console": "1", "Content-Type": "application/json"}
lat = []
for i in range(n + 5):
    t0 = time.perf_counter()
    conn.request("POST", "/api/op/queue", body=body, headers=headers)
    res = conn.getresponse()
    data = res.read()
    t1 = time.perf_counter()
    if res.status != 200:
        sys.exit("queue answered %d: %s" % (res.status, data[:300]))
    items = json.loads(data).get("items", [])
    if len(items) != PAGE:
        sys.exit("queue answered %d items, not %d" % (len(items), PAGE))
    if i >= 5:  # the first few warm the connection and the plan cache
        lat.append((t1 - t0) * 1000)
lat.sort()


def pct(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))]


json.dump({"requests": len(lat), "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": lat[-1]},
          open(out, "w"))
