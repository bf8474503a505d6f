"""Notebook 11-observability: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "11-observability"
TITLE = "11 observability"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 11 · Observability and debugging\n\n"
            "**Goal:** debug a mesh from what its proxies report. Read **RED metrics** (rate, errors, duration) "
            "from the proxies' Prometheus text with Istio's names and labels; follow one request as a **trace** of "
            "spans and see what each proxy *could* see — a sidecar or waypoint the method, path and status, a "
            "ztunnel only a connection, its bytes and identities; look at **the wire** (plaintext, TLS, HBONE); "
            "then find a seeded fault from the metrics and fix only it. Every count, rate and latency below is "
            "measured in this run; faults and error rates that are *configured* are labelled so.\n\n"
            + nav(NAME)
        ),
        md(
            "## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `scrape` reads "
            "one proxy's metrics (`lab.metrics(proxy)`: the `istio_*` series of the Prometheus text a scrape of its "
            "port 15020 returns; a real sidecar's also has `envoy_*`, `istio_agent_*` and the app's) "
            "into samples; `requests_table` sums `istio_requests_total` over every proxy by the labels you name; "
            "`red` computes rate, errors and duration per service from the same counters and the "
            "`istio_request_duration_milliseconds` histogram."
        ),
        code(
            "from collections import Counter, defaultdict\n"
            "from prometheus_client.parser import text_string_to_metric_families\n"
            "from meshlab import Lab\n"
            "from meshlab.viz import path_figure\n\n" + check_setup(NAME) + "\n\n"
            "def scrape(proxy):\n"
            "    \"\"\"One proxy's metrics as (name, labels, value) samples.\"\"\"\n"
            "    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(lab.metrics(proxy))\n"
            "            for s in f.samples]\n\n\n"
            "def requests_table(by, proxies=None):\n"
            "    \"\"\"istio_requests_total summed over the proxies (default: all), grouped by the labels in `by`.\"\"\"\n"
            "    out = Counter()\n"
            "    for proxy in proxies or lab.proxies:\n"
            "        for name, labels, value in scrape(proxy):\n"
            "            if name == 'istio_requests_total':\n"
            "                out[tuple(labels[k] for k in by)] += int(value)\n"
            "    print(' | '.join(by), '| requests')\n"
            "    for key, n in sorted(out.items()):\n"
            "        print(' | '.join(key), '|', n)\n"
            "    return out\n\n\n"
            "def red(seconds, reporter='destination'):\n"
            "    \"\"\"Rate, errors and duration per destination service, as a dashboard computes them from the\n"
            "    counters (one reporter only: each request is counted once per reporting proxy).\"\"\"\n"
            "    n, errors, buckets, total_ms = Counter(), Counter(), defaultdict(Counter), Counter()\n"
            "    for proxy in lab.proxies:\n"
            "        for name, labels, value in scrape(proxy):\n"
            "            if labels.get('reporter') != reporter:\n"
            "                continue\n"
            "            svc = labels['destination_service_name']\n"
            "            if name == 'istio_requests_total':\n"
            "                n[svc] += value\n"
            "                errors[svc] += value if labels['response_code'].startswith('5') else 0\n"
            "            elif name == 'istio_request_duration_milliseconds_bucket':\n"
            "                buckets[svc][float(labels['le'])] += value\n"
            "            elif name == 'istio_request_duration_milliseconds_sum':\n"
            "                total_ms[svc] += value\n\n"
            "    def quantile(q, b):          # as PromQL's histogram_quantile: linear inside the bucket\n"
            "        bounds = sorted(b)\n"
            "        rank, lo, below = q * b[bounds[-1]], 0.0, 0.0\n"
            "        for le in bounds:\n"
            "            if b[le] >= rank:\n"
            "                if le == float('inf'):\n"
            "                    return lo\n"
            "                return lo + (le - lo) * (rank - below) / max(b[le] - below, 1e-9)\n"
            "            lo, below = le, b[le]\n"
            "    print(f\"{'service':<12} {'rate (req/s)':>12} {'errors (5xx)':>13} {'mean ms':>8} {'p90 ms':>7}\")\n"
            "    for svc in sorted(n):\n"
            "        print(f'{svc:<12} {n[svc] / seconds:12.1f} {100 * errors[svc] / n[svc]:12.0f}% '\n"
            "              f'{total_ms[svc] / n[svc]:8.1f} {quantile(0.9, buckets[svc]):7.1f}')\n"
            "    return n, errors"
        ),
        md(
            "## 1. RED metrics from the sidecars\n\nBookinfo in **sidecar** mode, with Istio's subsets, every "
            "reviews call sent to v2 or v3 (both call ratings), and a fault on ratings from Istio's *fault "
            "injection* task — an abort with HTTP 500 — here for **half** of all requests (configured), not only "
            "for jason:"
        ),
        code(
            "lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n"
            "FAULTY_RATINGS = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: DestinationRule\n"
            "metadata: {name: reviews}\n"
            "spec:\n"
            "  host: reviews\n"
            "  subsets:\n"
            "  - {name: v2, labels: {version: v2}}\n"
            "  - {name: v3, labels: {version: v3}}\n"
            "---\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: reviews}\n"
            "spec:\n"
            "  hosts: [reviews]\n"
            "  http:\n"
            "  - route:\n"
            "    - {destination: {host: reviews, subset: v2}, weight: 50}\n"
            "    - {destination: {host: reviews, subset: v3}, weight: 50}\n"
            "---\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: ratings}\n"
            "spec:\n"
            "  hosts: [ratings]\n"
            "  http:\n"
            "  - fault:\n"
            "      abort:\n"
            "        percentage: {value: 50}\n"
            "        httpStatus: 500\n"
            "    route:\n"
            "    - destination: {host: ratings}\n"
            "'''\n"
            "print(lab.apply(FAULTY_RATINGS))\n"
            "pages = lab.load('client', 'http://productpage:9080/productpage', requests=60, concurrency=4, progress=False)\n"
            "print(pages.summary()['requests'])"
        ),
        md(
            "Every page came back 200 — reviews absorbs a failed ratings call and answers 200 with \"Ratings service "
            "is currently unavailable\" in place of the stars, which productpage shows (as Istio's reviews does). The proxies counted every call. Istio's *standard metrics* "
            "(https://istio.io/latest/docs/reference/config/metrics/) name the counter `istio_requests_total`; each "
            "request is counted by the proxy on each side, labelled `reporter=\"source\"` (the caller's sidecar) "
            "or `reporter=\"destination\"` (the server's), with `response_code` and `response_flags` (Envoy's "
            "`%RESPONSE_FLAGS%`: `FI` is an injected abort, `-` none).\n\n### Predict, then run\n\nHow many "
            "requests with `response_code=\"500\"` does **ratings' own sidecar** (`reporter=\"destination\"`) "
            "count?"
        ),
        code("my_q1 = None   # a number of requests"),
        code(
            "calls = requests_table(('reporter', 'source_workload', 'destination_service_name', 'response_code', "
            "'response_flags'))\n"
            "at_ratings = sum(n for (rep, _, svc, code, _), n in calls.items()\n"
            "                 if rep == 'destination' and svc == 'ratings' and code == '500')\n"
            "by_source = sum(n for (rep, _, svc, code, _), n in calls.items()\n"
            "                if rep == 'source' and svc == 'ratings' and code == '500')\n"
            "print(f'500s for ratings: {by_source} reported by the callers, {at_ratings} by ratings itself')"
        ),
        code(
            "check('q1', my_q1, at_ratings,\n"
            "      \"None: Istio injects a fault at the client side ('Fault injection policy to apply on HTTP traffic \"\n"
            "      \"at the client side', virtual_service.proto). The aborted requests never leave reviews' sidecar, \"\n"
            "      \"so only reporter='source' counts them, with response_flags FI. A dashboard that shows only the \"\n"
            "      \"server side (reporter='destination') sees a healthy ratings service.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhich proxy runs the fault filter of a VirtualService in sidecar "
            "mode: the caller's or the server's? Does an aborted request reach the server's proxy at all?\n"
            "</details>\n\n"
            "### RED, per service\n\nRate, errors, duration — from the counters and the duration histogram, as "
            "Prometheus would compute them (`rate(istio_requests_total[..])`, `histogram_quantile(0.9, ..)`; "
            "Istio's default buckets are coarse, 0.5, 1, 5, 10, 25 ms ..., so a p90 is an interpolation). Once as "
            "the servers' sidecars saw it, once as the callers' did:"
        ),
        code(
            "print('reporter = destination (the servers):')\n"
            "red(pages.wall_s)\n"
            "print('\\nreporter = source (the callers):')\n"
            "_ = red(pages.wall_s, reporter='source')"
        ),
        md(
            "### Predict, then run\n\nThe same counters carry `connection_security_policy`. Every call here went "
            "over mutual TLS between two sidecars. What does productpage's sidecar, as the **source**, report for "
            "its calls to reviews?\n\n- **a** `mutual_tls`\n- **b** `unknown`\n- **c** `none`"
        ),
        code("my_q2 = None   # 'a', 'b' or 'c'"),
        code(
            "security = requests_table(('reporter', 'destination_service_name', 'connection_security_policy'),\n"
            "                          proxies=['productpage-v1-0/istio-proxy'])\n"
            "seen = {pol for (rep, svc, pol) in security if rep == 'source' and svc == 'reviews'}"
        ),
        code(
            "check('q2', my_q2, {'mutual_tls': 'a', 'unknown': 'b', 'none': 'c'}[min(seen)],\n"
            "      \"Istio's metrics page: it is 'set to mutual_tls when Istio is used to make communication secure and \"\n"
            "      \"report is from destination', and 'to unknown when report is from source since security policy cannot \"\n"
            "      \"be properly populated'. It confuses people (istio/istio#12452, #42853): with sidecars, look at \"\n"
            "      \"reporter='destination' to prove mTLS.\")"
        ),
        code("lab.stop()"),
        md(
            "## 2. What a ztunnel can count\n\nThe same Bookinfo in **ambient** mode, no waypoint. A ztunnel is an "
            "L4 proxy: \"Ztunnel does not terminate workload HTTP traffic or parse workload HTTP headers\" "
            "(https://istio.io/latest/docs/ambient/overview/). Its metrics are TCP metrics "
            "(`istio_tcp_connections_opened_total`, `..._closed_total`, `istio_tcp_sent_bytes_total`, "
            "`istio_tcp_received_bytes_total`; ztunnel's `src/proxy/metrics.rs`).\n\n"
            "Where the lab differs: Istio's ztunnel also exports, among others, `istio_tcp_connections_failed_total` "
            "and `istio_tcp_sockets_open` (since 1.29, marked unstable), DNS, xDS and build counters, which the lab's "
            "ztunnel does not; it adds to its byte counters as data flows, the lab's when a connection closes; the lab's L7 proxies "
            "report the HTTP metrics but not `istio_request_messages_total` (gRPC) or `grpc_response_status`; and "
            "label values are the lab's (no `source_canonical_service`, `*_cluster` or `request_protocol=\"grpc\"`)."
        ),
        code(
            "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"
            "pages = lab.load('client', 'http://productpage:9080/productpage', requests=30, concurrency=2, progress=False)\n"
            "print(pages.summary()['requests']['by_status'])\n"
            "print('proxies:', list(lab.proxies))"
        ),
        md(
            "### Predict, then run\n\n30 pages went through the two ztunnels: each page is 3-4 HTTP calls. How "
            "many `istio_requests_total` samples does `ztunnel-node-1` expose?"
        ),
        code("my_q3 = None   # a number of samples"),
        code(
            "ztunnel = scrape('ztunnel-node-1')\n"
            "print(sorted({name for name, _, _ in ztunnel}))\n"
            "http_samples = sum(name == 'istio_requests_total' for name, _, _ in ztunnel)\n"
            "print('istio_requests_total samples:', http_samples)"
        ),
        code(
            "check('q3', my_q3, http_samples,\n"
            "      \"None. ztunnel never reads HTTP, so it cannot count requests or status codes — only connections, \"\n"
            "      \"bytes and the identities on both ends. Istio's comparison page: L4 metrics are 'TCP only', \"\n"
            "      \"RED metrics need L7 (https://istio.io/latest/docs/overview/dataplane-modes/).\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhat would a proxy have to parse to know a response code?\n"
            "</details>\n\nWhat ztunnel *does* count: connections by who called whom, and whether the inbound "
            "side was mutual TLS (`reporter=\"destination\"`: `mutual_tls` for HBONE). Unlike a sidecar, ztunnel "
            "says `mutual_tls` on its source side too, for what it sends over HBONE — it made that connection "
            "itself (`unknown` only for plain TCP; istio/ztunnel `src/proxy/outbound.rs`):"
        ),
        code(
            "conns = Counter()\n"
            "for z in ('ztunnel-node-1', 'ztunnel-node-2'):\n"
            "    for name, labels, value in scrape(z):\n"
            "        if name == 'istio_tcp_connections_opened_total':\n"
            "            conns[(z, labels['reporter'], labels['source_workload'], labels['destination_service_name'],\n"
            "                   labels['connection_security_policy'])] += int(value)\n"
            "for key, n in sorted(conns.items()):\n"
            "    print(*key, n, sep=' | ')"
        ),
        md(
            "### A waypoint brings the HTTP metrics back, for one service\n\nGive reviews a waypoint "
            "(`lab.set_waypoints(['reviews'])`, as in notebook 01) and load the pages again:"
        ),
        code(
            "lab.set_waypoints(['reviews'])\n"
            "pages = lab.load('client', 'http://productpage:9080/productpage', requests=30, concurrency=2, progress=False)\n"
            "_ = requests_table(('reporter', 'source_workload', 'destination_service_name', 'response_code'))"
        ),
        md(
            "Only reviews has HTTP metrics now, from `waypoint-0`, counted once and labelled "
            "`reporter=\"waypoint\"` — Istio's own value for a waypoint (istiod configures a waypoint's stats as a "
            "server gateway: `pilot/pkg/model/telemetry.go`; istio/proxy's tests expect `reporter=\"waypoint\"`; the "
            "metrics reference page lists only `source` and `destination`), so dashboards and alerts written for "
            "sidecars' `reporter=\"destination\"` miss it. In ambient mode the L7 work happens once, at the "
            "destination's waypoint (one L7 processing step per request, against two for sidecars — "
            "https://istio.io/latest/docs/overview/dataplane-modes/). Calls to details and ratings stay TCP-only. "
            "Note also the ztunnels' connection counts above: 30 pages from the client, but only as many "
            "client → productpage connections as the load kept open — ztunnel counts connections, not requests."
        ),
        md(
            "## 3. One request as a trace\n\nEvery hop (app or proxy) records a span; the lab reassembles one "
            "request's spans into its path (`r.path`, `lab.paths()`). Istio's tracing needs the apps to copy the "
            "trace headers (`traceparent`, `x-b3-*`, `x-request-id`) from the request they received to the calls "
            "they make (https://istio.io/latest/docs/tasks/observability/distributed-tracing/overview/); "
            "Bookinfo's apps do. Where the lab differs: Istio's ztunnel exports no trace spans (tracing at L4 is "
            "\"Not today\" on the data plane modes page); the lab's ztunnels record a span per connection, and the "
            "lab links it to the request by the app's socket address, so you can see what a ztunnel handled "
            "(its hatched bar is the part of the connection that carried this request; \"connection open\" is "
            "how long the connection has been open: a pooled HBONE connection outlives many requests)."
        ),
        code(
            "r = lab.request('client', 'http://productpage:9080/productpage')\n"
            "path_figure(r.path, title='one page in ambient mode, reviews behind a waypoint (measured)')"
        ),
        md(
            "What each proxy on that path recorded — straight from the spans' fields. A span of an L7 hop has the "
            "request line and a status; a ztunnel's span is one *connection*: its target is a pod, not a URL, and "
            "it has no status, only the identity it verified (mTLS) and the bytes it moved (counted when the "
            "connection closes):"
        ),
        code(
            "spans = lab.spans(r.trace_id)\n"
            "by_start = {(s.name, s.start): s for s in lab.spans()}     # the span behind each hop\n"
            "print(f\"{'proxy':<16} {'layer':<5} {'what it saw':<44} {'status':>6}  peer identity\")\n"
            "for h in r.path.hops:\n"
            "    if h.role in ('sidecar', 'ztunnel', 'waypoint'):\n"
            "        s = by_start[(h.name, h.start)]\n"
            "        saw = s.target if h.layer == 'L7' else f\"a connection ({h.direction}) to {s.target or s.peer}\"\n"
            "        print(f\"{h.name:<16} {h.layer:<5} {(saw or '-')[:44]:<44} {str(s.status or '-'):>6}  \"\n"
            "              f\"{(h.identity or '-').removeprefix('spiffe://cluster.local/')}\")\n"
            "z = [s for s in lab.spans() if s.role == 'ztunnel' and s.bytes_in]\n"
            "print('\\na closed ztunnel connection span, every field:')\n"
            "for field, value in (z[-1].to_dict() if z else {}).items():\n"
            "    print(f'  {field:<16} {value}')"
        ),
        md(
            "### Predict, then run\n\nOf the proxy hops on this page's path, how many recorded the HTTP status of "
            "the call they carried?"
        ),
        code("my_q4 = None   # a number of proxy hops"),
        code(
            "proxy_hops = [h for h in r.path.hops if h.role in ('sidecar', 'ztunnel', 'waypoint')]\n"
            "with_status = [h.name for h in proxy_hops if h.status is not None]\n"
            "print(f'{len(proxy_hops)} proxy hops; with an HTTP status: {with_status}')"
        ),
        code(
            "check('q4', my_q4, len(with_status),\n"
            "      \"Only the waypoint: it terminates HTTP for reviews, so it saw the method, path and status. The \"\n"
            "      \"ztunnels carried every call, but as bytes in an HBONE tunnel: they know which identities talked \"\n"
            "      \"and how much, never what was asked or answered. Debugging an ambient mesh without a waypoint \"\n"
            "      \"means TCP metrics and the apps' own logs.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nCount the hops of layer L7 among the proxies in the table above."
            "\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 4. The wire\n\nA packet capture shows what an eavesdropper on a link could read. The same call, "
            "client (node-1) → ratings (node-2), in each mode, captured on node-2's link: no mesh (plaintext "
            "HTTP), sidecars (mutual TLS between the two sidecars, to the pod's own port), ambient (HBONE: HTTP/2 "
            "CONNECT inside mutual TLS, to port **15008** — https://istio.io/latest/docs/ambient/architecture/hbone/). "
            "Capturing needs the mininet backend (root: every pod a network namespace, real links, tcpdump). Where "
            "it cannot run (Binder), the notebook shows the same capture **recorded on mininet** (it says where "
            "and when), the table computed from the pcap files in `recordings/11-wire/` "
            "(`tools/record_wire_capture.py` made them). With root, set `BACKEND = 'mininet'` to capture your own."
        ),
        code(
            "BACKEND = 'loopback'   # 'mininet' (root only) captures live\n"
            "from meshlab.telemetry.pcap import load_recorded\n"
            "caps = {}\n"
            "if BACKEND == 'mininet':\n"
            "    for mode in ('none', 'sidecar', 'ambient'):\n"
            "        with Lab('bookinfo', mode=mode, backend='mininet', verbose=False) as live:\n"
            "            live.request('client', 'http://ratings:9080/ratings/0')\n"
            "            caps[mode] = live.capture('node-2', during=lambda: [live.request('client', 'http://ratings:9080/ratings/0') for _ in range(3)])\n"
            "            client_ip, ratings_ip = live.pod_ip('client-0'), live.pod_ip('ratings-v1-0')\n"
            "    print('captured live on mininet')\n"
            "else:\n"
            "    rec = load_recorded('11-wire')\n"
            "    caps = {c['mode']: cap for c, cap in rec.captures}\n"
            "    client_ip, ratings_ip = rec.captures[0][0]['client_pod_ip'], rec.captures[0][0]['ratings_pod_ip']\n"
            "    print(f'Packet capture needs the mininet backend; shown: the capture {rec.label}')\n"
            "for mode, cap in caps.items():\n"
            "    print(f'\\n--- {mode}:', cap.readable())\n"
            "    print(cap.table(limit=4))"
        ),
        md("### Predict, then run\n\nIn the ambient capture, to which TCP port do the ztunnel's packets go?"),
        code("my_q5 = None   # a port number"),
        code(
            "to_server = [p for p in caps['ambient'].packets if p.length and p.what.startswith('TLS')\n"
            "             and p.dst.startswith(ratings_ip + ':')]\n"
            "port = Counter(int(p.dst.rsplit(':', 1)[1]) for p in to_server).most_common(1)[0][0]\n"
            "sources = sorted({p.src.rsplit(':', 1)[0] for p in to_server if p.dst.endswith(f':{port}')})\n"
            "print('TLS packets to the ratings pod, by port:', Counter(p.dst.rsplit(':', 1)[1] for p in to_server))\n"
            "print(f'sent to {port} from {sources}; the client pod is {client_ip}')"
        ),
        code(
            "check('q5', my_q5, port,\n"
            "      \"15008, HBONE: 'By Istio convention, ztunnel and other proxies that understand the HBONE protocol \"\n"
            "      \"expose listeners on TCP port 15008.' The app's port 9080 travels inside, as the CONNECT's \"\n"
            "      \":authority (pod IP:9080), encrypted. A NetworkPolicy that blocks 15008 breaks ambient \"\n"
            "      \"(istio/istio#52742).\")"
        ),
        md(
            "Where the lab differs: the source of those packets is the lab's node address, not the client pod's. "
            "The lab's ztunnel dials from its node; Istio's ztunnel opens its sockets *inside* the source pod's "
            "network namespace (in-pod redirection, since Istio 1.21: "
            "https://istio.io/latest/blog/2024/inpod-traffic-redirection-ambient/; "
            "https://istio.io/latest/docs/ambient/architecture/traffic-redirection/), so on a real cluster the "
            "capture would show the client pod's IP. The sidecar capture shows few packets because the two "
            "sidecars keep their mTLS connection open between calls."
        ),
        md(
            "## 5. Your task: find the fault\n\nA fresh Bookinfo in sidecar mode. The task's first cell applies "
            "several Istio objects — subsets, a 50/50 reviews split, a timeout for details, STRICT mutual TLS "
            "— and **one of them is broken** (which one depends on your variant). Part of every page is missing. "
            "Find the broken object from what the proxies report: `requests_table(...)` over the labels that "
            "matter (`reporter`, `source_workload`, `destination_service_name`, `response_code`, "
            "`response_flags`), and a page's path (`lab.request(...).path`). Do not read `lab.policies()`: on a "
            "real cluster you would start from the dashboards too. Then fix **only** that object — "
            "`lab.apply(...)` a corrected one (same kind and name), or `lab.delete(kind=..., name=...)` — and set "
            "`answer = 'done'`. The check loads 8 pages and checks that the rest of the configuration is still in "
            "force."
        ),
        *task_cells(NAME, "find-the-fault", "lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n"),
        md(
            "<details><summary>Hint</summary>\n\nStart from the failing calls: "
            "`requests_table(('reporter', 'source_workload', 'destination_service_name', 'response_code', "
            "'response_flags'))`. Then ask: which side reported the error (source or destination)? Envoy's "
            "flags name the cause: `FI` an injected abort; `NC` no such cluster (a route to a subset no "
            "DestinationRule defines); `UC` the upstream closed the connection (in this lab: plaintext against a STRICT "
            "server; on a real cluster the flag for that case varies); a 403 counted by the destination is an AuthorizationPolicy. The error message in a "
            "denied or failed hop of `lab.request(...).path` says more.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nEach variant breaks one object: "
            "`FI` 500s reported by reviews' sidecars → the ratings VirtualService's fault "
            "(`lab.delete(kind='VirtualService', name='ratings')`); `NC` 503s for ratings → the ratings "
            "VirtualService routes to subset v2, which the ratings DestinationRule does not define (route to `v1`, or "
            "delete it); 403s reported by details' sidecar → a DENY AuthorizationPolicy "
            "(`lab.delete(kind='AuthorizationPolicy', name='details-access')`); `UC` 503s from productpage to "
            "details → a DestinationRule for details with `tls: {mode: DISABLE}` against STRICT "
            "(`lab.delete(kind='DestinationRule', name='details')`, or `ISTIO_MUTUAL`). `lab.delete(all=True)` "
            "also makes the pages whole — and takes the subsets, the split, the timeout and STRICT with it: the "
            "check refuses it. So does making mTLS PERMISSIVE.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 6. Your task: let the waypoint through\n\nA fresh Bookinfo in ambient mode. The task's first cell "
            "applies an L4 AuthorizationPolicy that lets only one caller reach a service's pods — enforced by the "
            "service's ztunnel — and then gives that service a waypoint. From then on the service is out of reach. "
            "Find out why from ztunnel's metrics (`scrape('ztunnel-node-1')`, `scrape('ztunnel-node-2')`: "
            "`istio_tcp_connections_closed_total` with `reporter`, `source_principal`, `response_flags`: ztunnel "
            "counts a connection as opened before its verdict, and puts `DENY` on it when it closes) or from "
            "the ztunnel hops of a page's path (their `identity`, `decision` and `error`), and fix the policy in "
            "YAML. Istio's ambient getting-started meets the same problem on productpage "
            "(https://istio.io/latest/docs/ambient/getting-started/enforce-auth-policies/)."
        ),
        *task_cells(
            NAME, "let-the-waypoint-through", "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhich identity does the service's ztunnel see on the connections "
            "it refuses, now that the traffic comes through the waypoint? \"Waypoint proxies do not impersonate "
            "the identity of the source workload\" (https://istio.io/latest/docs/ambient/usage/l4-policy/).\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nThe destination ztunnel sees `cluster.local/ns/default/sa/"
            "waypoint`, the waypoint's identity, and the ALLOW policy does not list it (`response_flags=\"DENY\"`"
            ", and the lab's spans say `RBAC: implicit deny`; Istio's ztunnel logs \"connection closed due to policy "
            "rejection: allow policies exist, but none allowed\"). Istio's istiod can add the waypoint's identity by "
            "itself (`PILOT_AUTO_ALLOW_WAYPOINT_POLICY`, off by default); the lab, like the default, does not. Replace the policy (same name, `<service>-callers`) with "
            "both principals: the original caller's (it may still call the pods directly) and "
            "`cluster.local/ns/default/sa/waypoint`. Allowing everyone (`\"*\"`) or deleting the policy also "
            "makes the pages whole, and lets any pod around the waypoint: the check refuses both. To restrict "
            "*who* may call through the waypoint, bind an L7 policy to the waypoint (notebook 02).\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- Istio's `istio_requests_total` counts each request once per reporting proxy: `reporter=\"source\"` "
            "(the caller's) and `reporter=\"destination\"` (the server's). A failure made at the caller — an "
            "injected fault, a missing cluster (`NC`) — appears only on the source side; RED dashboards need both.\n"
            "- `response_flags` name the cause (`FI`, `NC`, `UC`, `UH`, `UT`, ...); "
            "`connection_security_policy` is `unknown` at a sidecar's source side even over mTLS: prove mTLS at the "
            "destination (ztunnel knows it on both sides).\n"
            "- A ztunnel reports TCP metrics only — connections, bytes, identities; HTTP metrics and statuses "
            "exist in ambient mode only where a waypoint terminates HTTP.\n"
            "- A trace shows what each hop could see: L7 proxies the request line and status, a ztunnel a "
            "connection, and behind a waypoint the destination ztunnel sees the *waypoint's* identity.\n"
            "- On the wire: plaintext HTTP without a mesh, TLS to the app's port between sidecars, TLS to port "
            "15008 (HBONE) in ambient mode.\n\n" + next_link(NAME)
        ),
    ]
