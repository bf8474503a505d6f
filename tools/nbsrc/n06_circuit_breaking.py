"""Notebook 06-circuit-breaking: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "06-circuit-breaking"
TITLE = "06 circuit breaking"

CB_TASK = "https://istio.io/latest/docs/tasks/traffic-management/circuit-breaking/"
DR_REF = "https://istio.io/latest/docs/reference/config/networking/destination-rule/"
ENVOY_OD = "https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/outlier_detection.proto"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 06 · Circuit breaking and outlier detection\n\n"
            "**Goal:** run Istio's *circuit breaking* task on httpbin — a DestinationRule that allows one connection "
            "and one waiting request — and see the client's sidecar refuse the excess at once (503, response flag "
            "`UO`), counted in its stats; then crash one httpbin pod and let **outlier detection** eject it, see "
            "why Istio's default settings eject nothing when a service has two pods, watch the pod come back after "
            "its ejection time, and measure how many errors the client sees with and without. Every count and "
            "time below is measured in this run; limits, delays and ejection times are *configured* and labelled "
            "so.\n\n" + nav(NAME)
        ),
        md(
            "## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `run` sends a "
            "load from the client and prints the statuses; `cb_stats` reads the client sidecar's counters for "
            "httpbin (the lab's counterpart of `pilot-agent request GET stats` in Istio's task); `answered_by` "
            "says which httpbin pod's sidecar received each request; "
        ),
        code(
            "from matplotlib.figure import Figure\n"
            "from prometheus_client.parser import text_string_to_metric_families\n"
            "from meshlab import Lab\n"
            "from meshlab.tasks.circuit_breaking import answered_by, crash\n"
            "from meshlab.viz import path_figure\n"
            "CLUSTER = 'outbound|8000||httpbin.default.svc.cluster.local'   # Envoy's name for httpbin, port 8000\n"
            "GET = 'http://httpbin:8000/get'\n\n" + check_setup(NAME) + "\n\n"
            "def run(n, concurrency, url=GET):\n"
            "    \"\"\"n requests from the client to url, `concurrency` at a time; prints what came back.\"\"\"\n"
            "    res = lab.load('client', url, requests=n, concurrency=concurrency, progress=False)\n"
            "    print(f'{n} requests, {concurrency} at a time: by status {res.by_status()}')\n"
            "    return res\n\n\n"
            "def cb_stats():\n"
            "    \"\"\"The client sidecar's circuit-breaker and outlier-detection counters for httpbin.\"\"\"\n"
            "    s = lab.proxies['client-0/istio-proxy'].call('stats')\n"
            "    return {**s['clusters'].get(CLUSTER, {}), 'ejected': s['outlier_ejected'].get(CLUSTER),\n"
            "            'ejections_overflow': s['outlier_ejections_overflow'].get(CLUSTER)}\n\n\n"
            "def by_flags():\n"
            "    \"\"\"The client sidecar's istio_requests_total (reporter=source), by response code and flags.\"\"\"\n"
            "    out = {}\n"
            "    for family in text_string_to_metric_families(lab.metrics('client-0/istio-proxy')):\n"
            "        for s in family.samples:\n"
            "            if s.name == 'istio_requests_total' and s.labels.get('reporter') == 'source':\n"
            "                key = f\"{s.labels['response_code']} {s.labels['response_flags']}\"\n"
            "                out[key] = out.get(key, 0) + int(s.value)\n"
            "    return out"
        ),
        md(
            "## 1. Istio's circuit-breaking task\n\n"
            "The `httpbin` topology: a service `httpbin` (port 8000) with two pods, and a client — the fortio "
            f"client of [Istio's task]({CB_TASK}). (Istio's task runs one httpbin pod; the lab has two so that "
            "section 3 can crash one. The limits below are per client proxy and per service, so the second pod "
            "changes how fast answers come back, not what the breaker counts.) In **sidecar** mode the client's "
            "sidecar applies the "
            "DestinationRule of the service it calls. The task's DestinationRule, as Istio ships it:"
        ),
        code(
            "lab = Lab('httpbin', mode='sidecar', verbose=False).start()\n"
            "ISTIO_DR = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: DestinationRule\n"
            "metadata: {name: httpbin}\n"
            "spec:\n"
            "  host: httpbin\n"
            "  trafficPolicy:\n"
            "    connectionPool:\n"
            "      tcp:\n"
            "        maxConnections: 1\n"
            "      http:\n"
            "        http1MaxPendingRequests: 1\n"
            "        maxRequestsPerConnection: 1\n"
            "    outlierDetection:\n"
            "      consecutive5xxErrors: 1\n"
            "      interval: 1s\n"
            "      baseEjectionTime: 3m\n"
            "      maxEjectionPercent: 100\n"
            "'''\n"
            "print(lab.apply(ISTIO_DR))\n"
            "r = lab.request('client', GET)\n"
            "print(r.status)\n"
            "path_figure(r.path, title='one request with the circuit breaker in force (measured)')"
        ),
        md(
            "One connection to httpbin at a time (`maxConnections: 1`), one request waiting for it "
            "(`http1MaxPendingRequests: 1`), and a new connection for every request "
            "(`maxRequestsPerConnection: 1`: no keep-alive). One request at a time goes through. The task then "
            "sends 20 requests **2 at a time** (`fortio load -c 2 -qps 0 -n 20`).\n\n"
            "### Predict, then run\n\nHow many of the 20 requests get a 503?"
        ),
        code("my_q1 = None   # a number of requests, 0 to 20"),
        code("two = run(20, 2)\nn503 = two.by_status().get('503', 0)"),
        code(
            "check('q1', my_q1, n503,\n"
            "      \"Istio's page shows 3 of 20 on its cluster and says the proxy 'does allow for some leeway'. The \"\n"
            "      \"count is a matter of timing: with no keep-alive every request opens a new connection, and \"\n"
            "      \"while that connection is being opened the request counts as *pending* (Envoy checks the \"\n"
            "      \"pending limit before a request waits for a connection, being opened or not). A second request \"\n"
            "      \"that arrives then finds the one pending slot taken: 503 at once. How often that happens \"\n"
            "      f\"depends on how long a connection takes to open: here {n503} of 20, \"\n"
            "      f\"{'more' if n503 > 3 else 'no more'} than on Istio's cluster.\",\n"
            "      ok=lambda a: abs(a - n503) <= 4)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWith one connection and one waiting slot, what happens to a "
            "request that arrives while another one is waiting — for a free connection, or for a new one to "
            "open?\n</details>\n\n"
            "### Predict, then run\n\nNow **3 at a time**, 30 requests (`-c 3 -n 30`). What share gets a 503, in "
            "percent?"
        ),
        code("my_q2 = None   # a percentage, 0 to 100"),
        code(
            "three = run(30, 3)\n"
            "share3 = 100 * three.by_status().get('503', 0) / len(three)\n"
            "print('the client sidecar\\'s counters for httpbin:', cb_stats())\n"
            "print('istio_requests_total at the client sidecar, by code and flags:', by_flags())"
        ),
        code(
            "check('q2', my_q2, round(share3),\n"
            "      \"Istio's page shows 63% (19 of 30). Each 503 is the circuit breaker's: the client's sidecar \"\n"
            "      \"answered it itself, without trying httpbin, with response flag UO (upstream overflow). \"\n"
            "      \"Envoy counts them in upstream_rq_pending_overflow — the stat the task greps for — and Istio's \"\n"
            "      \"metrics carry the flag: istio_requests_total{response_code='503', response_flags='UO'}.\",\n"
            "      ok=lambda a: abs(a - share3) <= 15)"
        ),
        md(
            "<details><summary>Solution</summary>\n\nA large share, larger than at concurrency 2: now two requests "
            "can be waiting behind the one in progress, and one slot only is allowed. The overflow counter and "
            "the `503 UO` metric above count the same requests (both runs together); a 503 that an app sent "
            "would carry no flag.\n</details>"
        ),
        md(
            "## 2. Which limit refuses?\n\n"
            "What part did `maxRequestsPerConnection: 1` play — every request had to open a connection? Allow "
            "keep-alive (drop that line) and keep the other two limits.\n\n"
            "### Predict, then run\n\nAt concurrency 2, with keep-alive, how many 503s?\n\n"
            "- **a** more than before\n- **b** about as many\n- **c** almost none"
        ),
        code("my_q3 = None   # 'a', 'b' or 'c'"),
        code(
            "print(lab.apply(ISTIO_DR.replace('        maxRequestsPerConnection: 1\\n', '')))\n"
            "two_ka = run(20, 2)\n"
            "three_ka = run(30, 3)\n"
            "ok = [o for o in three_ka.outcomes if o['status'] == 200]\n"
            "refused = [o for o in three_ka.outcomes if o['status'] == 503]\n"
            "if ok and refused:\n"
            "    ms = lambda os: 1000 * sorted(o['end'] - o['start'] for o in os)[len(os) // 2]\n"
            "    print(f'median time to the answer: 200s {ms(ok):.2f} ms, 503s {ms(refused):.2f} ms (measured)')"
        ),
        code(
            "ka503 = two_ka.by_status().get('503', 0)\n"
            "letter = 'c' if ka503 <= 2 else ('a' if ka503 > n503 + 4 else 'b')\n"
            "check('q3', my_q3, letter,\n"
            "      f'With keep-alive the one connection stays open: the second request waits in the pending slot '\n"
            "      f'while the first is served, and gets the connection next ({ka503} of 20 refused). At concurrency 3 '\n"
            "      f'the third request finds that slot taken and is refused at once, without waiting: a 503 comes '\n"
            "      f'back faster than a 200.')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA request counts as pending while it waits for a connection. "
            "With keep-alive, does the second request have to wait for a connection to be *opened*?\n</details>\n\n"
            "Istio's `connectionPool` has four request limits ([DestinationRule reference]"
            f"({DR_REF})): `tcp.maxConnections`, `http.http1MaxPendingRequests` (requests waiting for a "
            "connection), `http.http2MaxRequests` (requests in flight to the service — Envoy's `max_requests`, "
            "which bounds HTTP/1.1 requests too) and `http.maxRetries` (retries in flight). Every one defaults to "
            "2³²−1: no limit. Each limit is *per client proxy*: ten client pods with sidecars may send ten times "
            "as much. In ambient mode these limits need a waypoint, which applies them for all its clients: "
            "ztunnel never parses HTTP (Istio's [waypoint page]"
            "(https://istio.io/latest/docs/ambient/usage/waypoint/) lists circuit breaking among the features "
            "that need one).\n\n"
            "## 3. A crashed pod\n\nNow the other half of the task's DestinationRule: outlier detection. Start "
            "again from no rule, and crash httpbin-1: its app process stops, its sidecar stays up and answers "
            "every request with a 503 (the connection to the app is refused; the sidecar tries it three times, "
            "as Istio's inbound route does since 1.24, then answers with flags `UF,URX`). In Kubernetes the kubelet would "
            "restart the container and a failing readiness probe would take the pod out of the service's "
            "endpoints after some seconds; the lab does neither (until `lab.reset()`), so only the mesh can react."
        ),
        code(
            "lab.delete(all=True)\n"
            "crash(lab, 'httpbin-1')\n"
            "print({p['pod']: 'running' if p['alive'] else 'crashed' for p in lab.pods()})"
        ),
        md(
            "### Predict, then run\n\nNo DestinationRule. Of 100 requests (4 at a time), what share fails, in "
            "percent?"
        ),
        code("my_q4 = None   # a percentage, 0 to 100"),
        code(
            "bare = run(100, 4)\n"
            "print('received by:', answered_by(bare))\n"
            "fail_bare = 100 - bare.by_status().get('200', 0)"
        ),
        code(
            "check('q4', my_q4, fail_bare,\n"
            "      \"About half: the client's sidecar balances over both pods, and every request that goes to \"\n"
            "      \"httpbin-1 fails (often a little more than half: httpbin-1's 503s come back faster than \"\n"
            "      \"httpbin-0's answers, so it has fewer requests in flight, which Istio's default LEAST_REQUEST \"\n"
            "      \"balancer prefers). Istio's default retry policy does not retry it: the 503 is an answer from \"\n"
            "      \"httpbin-1's sidecar, not a failed connection, and 503 is not retried by default since Istio 1.24.\",\n"
            "      ok=lambda a: abs(a - fail_bare) <= 12)"
        ),
        md(
            "## 4. Outlier detection at Istio's defaults\n\n"
            "Eject a pod after one 5xx, as the task does, but leave `maxEjectionPercent` at its default:"
        ),
        code(
            "OUTLIER = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: DestinationRule\n"
            "metadata: {name: httpbin}\n"
            "spec:\n"
            "  host: httpbin\n"
            "  trafficPolicy:\n"
            "    outlierDetection:\n"
            "      consecutive5xxErrors: 1\n"
            "      interval: 1s\n"
            "      baseEjectionTime: 3m\n"
            "'''\n"
            "print(lab.apply(OUTLIER))"
        ),
        md("### Predict, then run\n\nOf the next 100 requests, what share fails, in percent?"),
        code("my_q5 = None   # a percentage, 0 to 100"),
        code(
            "default_pct = run(100, 4)\n"
            "print('received by:', answered_by(default_pct))\n"
            "print('the client sidecar\\'s outlier counters:', {k: v for k, v in cb_stats().items() if k.startswith('eject')})\n"
            "fail_default = 100 - default_pct.by_status().get('200', 0)"
        ),
        code(
            "check('q5', my_q5, fail_default,\n"
            "      \"Still about half. httpbin-1 is an outlier after every failure, but maxEjectionPercent (default \"\n"
            "      \"10%) bounds the share of the service's endpoints that may be out, and ejecting 1 of 2 is 50%. \"\n"
            "      \"Since Envoy 1.28 the ejection is refused then, even for the first pod (older Envoy always \"\n"
            "      \"ejected one; Envoy's always_eject_one_host brings that back, and Istio does not expose it). \"\n"
            "      \"Envoy counts the refusals in ejections_overflow, above. With the default, a service needs 10 \"\n"
            "      \"or more endpoints before a single one can be ejected.\",\n"
            "      ok=lambda a: abs(a - fail_default) <= 12)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhat share of httpbin's endpoints would be out if httpbin-1 were "
            "ejected? Compare it with the DestinationRule's default `maxEjectionPercent`.\n</details>\n\n"
            f"Sources: the [DestinationRule reference]({DR_REF}) (`maxEjectionPercent`: \"Defaults to 10%\"; "
            "`consecutive5xxErrors` defaults to 5, `interval` to 10s, `baseEjectionTime` to 30s), Envoy's "
            f"[OutlierDetection]({ENVOY_OD}) (`max_ejection_percent`, `always_eject_one_host`) and Envoy PR "
            "#27909 (`DetectorImpl::ejectHost`, Envoy 1.28). The lab's model is in `meshlab/policy/circuit.py`.\n\n"
            "## 5. Failure isolation\n\nNow the task's `maxEjectionPercent: 100`:"
        ),
        code(
            "print(lab.apply(OUTLIER + '      maxEjectionPercent: 100\\n'))\n"
            "isolated = run(100, 4)\n"
            "print('received by:', answered_by(isolated))\n"
            "print('ejected:', cb_stats()['ejected'])\n"
            "fail_isolated = 100 - isolated.by_status().get('200', 0)"
        ),
        code(
            "fig = Figure(figsize=(7, 3), layout='constrained')\n"
            "ax = fig.add_subplot()\n"
            "labels = ['no DestinationRule', 'outlier detection,\\nmaxEjectionPercent 10% (default)',\n"
            "          'outlier detection,\\nmaxEjectionPercent 100']\n"
            "bars = ax.barh(labels, [fail_bare, fail_default, fail_isolated], color=['#D55E00', '#E69F00', '#009E73'])\n"
            "ax.bar_label(bars, fmt='%d')\n"
            "ax.invert_yaxis()\n"
            "ax.set_xlabel('failed requests of 100 (measured), httpbin-1 crashed')\n"
            "ax.set_title('what the client sees, 4 requests at a time', fontsize=10)\n"
            "fig"
        ),
        md(
            "The client now sees only the first failures: each request in flight to httpbin-1 when it failed "
            "(up to 4 here, sent 4 at a time), then none — httpbin-0 serves everything. The failure is isolated "
            "to one pod and the client barely notices it. The price: one healthy pod carries all the load, and "
            "with `maxEjectionPercent: 100` *every* pod can be ejected when all fail (then the load balancer has "
            "nothing left and answers 503 itself, flag `UH`, unless `minHealthPercent` lets it fall back to them "
            "all).\n\n"
            "## 6. Coming back\n\nAn ejected pod is out for `baseEjectionTime` × the number of times it has been "
            f"ejected ([DestinationRule reference]({DR_REF})), then returns at the next `interval` sweep. With a "
            "short ejection time (2 s, configured), restart httpbin-1 (`lab.reset()` restarts what died) and watch."
        ),
        code(
            "import time\n"
            "print(lab.apply(OUTLIER.replace('3m', '2s') + '      maxEjectionPercent: 100\\n'))\n"
            "run(20, 1)                               # httpbin-1 still crashed: it fails once and is ejected\n"
            "print('ejected:', cb_stats()['ejected'])\n"
            "lab.reset()                              # httpbin-1's app restarts\n"
            "print({p['pod']: 'running' if p['alive'] else 'crashed' for p in lab.pods()})\n"
            "back_now = run(20, 1)\n"
            "print('right after the restart, received by:', answered_by(back_now))"
        ),
        md(
            "### Predict, then run\n\nWait 3 s, then send 20 requests one at a time. How many does httpbin-1 "
            "serve?"
        ),
        code("my_q6 = None   # a number of requests, 0 to 20"),
        code(
            "time.sleep(3)\n"
            "later = run(20, 1)\n"
            "print('3 s later, received by:', answered_by(later), '; ejected:', cb_stats()['ejected'])\n"
            "served1 = answered_by(later).get('httpbin-1 200', 0)"
        ),
        code(
            "check('q6', my_q6, served1,\n"
            "      \"About half. Outlier detection is passive: it does not know that httpbin-1 recovered. The \"\n"
            "      \"pod just comes back when its ejection time is up (2 s, at the next 1 s sweep), and serves \"\n"
            "      \"again if it is healthy. Had it still been down, its first failure would eject it again at \"\n"
            "      \"once, for 2 x 2 s. With the task's 3m a recovered pod would idle for 3 minutes.\",\n"
            "      ok=lambda a: abs(a - served1) <= 4)"
        ),
        md(
            "<details><summary>Solution</summary>\n\nRight after the restart httpbin-1 served nothing (unless "
            "2 s had already passed): the client's sidecar still had it ejected. After its 2 s, the load balancer (Istio's default `LEAST_REQUEST`) "
            "spreads the requests over both pods again.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 7. Your task: cap the requests in flight\n\nA fresh httpbin lab (sidecar mode). httpbin's "
            "`/delay/0.2` takes 200 ms per request (configured), and the client sends several at a time; the goal "
            "names your limit and the client's concurrency (Istio's own numbers: 1, and 3 at a time). Write a "
            "DestinationRule so that httpbin never has more than your limit of the client's requests at once, "
            "and the excess is refused at once (503, `UO`) instead of waiting. The check sends requests at your "
            "limit (none may be refused) and at the client's concurrency, and reads off the paths how many "
            "requests httpbin was handling at once."
        ),
        *task_cells(
            NAME, "cap-requests-in-flight", "lab = Lab('httpbin', mode='sidecar', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nSection 2: which `connectionPool.http` limit bounds the requests "
            "*in flight*, rather than the ones waiting for a connection? (Its name says HTTP/2; Envoy applies it to "
            "HTTP/1.1 too.)\n</details>\n\n<details><summary>Solution</summary>\n\n`http2MaxRequests: <your "
            "limit>`. `http1MaxPendingRequests` alone does not do it: connections stay unlimited, so requests do "
            "not wait for one. `maxConnections: <limit>` with `http1MaxPendingRequests` bounds httpbin too, but "
            "then requests wait in the queue first instead of being refused.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 8. Your task: eject the crashed pod\n\nA fresh httpbin lab (sidecar mode); the task's first cell "
            "crashes httpbin-1 as in section 3. The goal names how many of 100 requests may fail, and how soon an "
            "ejected pod must be tried again. Fill in the outlier detection. The check sends 100 requests one at "
            "a time and reads the client sidecar's ejections."
        ),
        *task_cells(
            NAME, "eject-the-crashed-pod", "lab = Lab('httpbin', mode='sidecar', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nOne at a time, httpbin-1 fails as many requests in a row as "
            "`consecutive5xxErrors` before it is ejected — if it can be ejected at all with two endpoints "
            "(section 4).\n</details>\n\n<details><summary>Solution</summary>\n\n`consecutive5xxErrors` at most your "
            "number of failures, `baseEjectionTime` at most your limit (`3m`, `30s`, `10s`), and "
            "`maxEjectionPercent: 50` or more (Istio's task uses 100).\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- A DestinationRule's `connectionPool` is a circuit breaker in every client proxy: requests beyond its "
            "limits get a 503 at once from the client's own sidecar, flag `UO`, counted in Envoy's "
            "`upstream_rq_pending_overflow` and in `istio_requests_total{response_flags=\"UO\"}`.\n"
            "- A request waiting for a connection to *open* counts as pending: without keep-alive "
            "(`maxRequestsPerConnection: 1`) even two requests at a time overflow a one-slot queue; "
            "`http2MaxRequests` bounds the requests in flight directly.\n"
            "- Outlier detection ejects a pod that fails `consecutive5xxErrors` times in a row, for "
            "`baseEjectionTime` × its ejections, and lets it back at the next sweep — passively, whether it "
            "recovered or not.\n"
            "- `maxEjectionPercent` defaults to 10%: with fewer than 10 endpoints, Envoy ≥ 1.28 ejects none. Set it "
            "(Istio's task uses 100) and a crashed pod costs the client a few errors instead of half its requests.\n"
            "- In ambient mode all of this needs a waypoint; ztunnel does not parse HTTP.\n\n"
            + next_link(NAME)
        ),
    ]
