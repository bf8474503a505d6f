"""Notebook 04-retries-and-timeouts: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "04-retries-and-timeouts"
TITLE = "04 retries and timeouts"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 04 · Retries and timeouts\n\n"
            "**Goal:** make a flaky service look healthy with Istio **retries**, and measure what that costs — more "
            "requests for the service (retry amplification) and more latency; see why an injected **fault** is "
            "never retried although its route keeps its retries; then cut a latency tail with a **timeout** and see "
            "what it trades for it. Every rate and latency below is measured in this run; delays and error rates "
            "that are *configured* (an injected fault, the app's own randomness) are labelled so.\n\n"
            + nav("04-retries-and-timeouts")
        ),
        md(
            "## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `measure` sends "
            "a load and reports its success rate, latency and how many requests the servers counted (their "
            "sidecars' `istio_requests_total`); `tries` counts how many times each request reached an app; "
            "`latency_cdf` plots measured latency distributions."
        ),
        code(
            "from collections import Counter\n"
            "from matplotlib.figure import Figure\n"
            "from prometheus_client.parser import text_string_to_metric_families\n"
            "from meshlab import Lab\n"
            "from meshlab.topology.loader import TOPOLOGY_DIR\n"
            "from meshlab.viz import path_figure, plain_log_ticks\n"
            "SAMPLES = TOPOLOGY_DIR / 'samples' / 'bookinfo'      # the YAML of Istio's Bookinfo tasks\n\n"
            + check_setup('04-retries-and-timeouts')
            + "\n\n"
            "def served(pods):\n"
            "    \"\"\"Requests the pods' sidecars received (istio_requests_total, reporter=destination), summed.\"\"\"\n"
            "    n = 0\n"
            "    for pod in pods:\n"
            "        for family in text_string_to_metric_families(lab.metrics(f'{pod}/istio-proxy')):\n"
            "            n += sum(s.value for s in family.samples\n"
            "                     if s.name == 'istio_requests_total' and s.labels.get('reporter') == 'destination')\n"
            "    return int(n)\n\n\n"
            "def tries(res):\n"
            "    \"\"\"For each request of a load, how many times it reached an app (0: stopped in a proxy).\"\"\"\n"
            "    return [sum(h.role == 'app' for h in p.hops) for p in res.paths.values()]\n\n\n"
            "def measure(url, n=100):\n"
            "    \"\"\"n requests from the client to url, over 4 connections; prints what happened.\"\"\"\n"
            "    before = served(SERVERS)\n"
            "    res = lab.load('client', url, requests=n, concurrency=4, progress=False)\n"
            "    s, got = res.summary(), served(SERVERS) - before\n"
            "    print(f\"{len(res)} requests: {s['requests']['ok']} ok = {100 * s['requests']['success_rate']:.0f}%, \"\n"
            "          f\"by status {s['requests']['by_status']}\")\n"
            "    print(f\"the servers received {got} ({got / len(res):.2f} per request); \"\n"
            "          f\"latency p50 {s['latency_ms']['p50']:.1f} ms, p99 {s['latency_ms']['p99']:.1f} ms\")\n"
            "    return res\n\n\n"
            "STYLES = [('#0072B2', '-'), ('#E69F00', '--'), ('#009E73', ':'), ('#CC79A7', '-.')]   # Okabe-Ito\n\n\n"
            "def latency_cdf(runs, title):\n"
            "    \"\"\"Measured latency distributions: for each run, the share of requests done within x ms.\"\"\"\n"
            "    fig = Figure(figsize=(8, 3.6), layout='constrained')\n"
            "    ax = fig.add_subplot()\n"
            "    for (label, res), (color, style) in zip(runs.items(), STYLES):\n"
            "        xs = sorted(res.latencies_ms())\n"
            "        ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where='post', color=color,\n"
            "                linestyle=style, linewidth=1.8, label=f'{label} (n={len(xs)})')\n"
            "    ax.set_xscale('log')\n"
            "    plain_log_ticks(ax.xaxis)   # 0.5, 2, 10 rather than 10⁰, 10¹\n"
            "    ax.set_xlabel('latency of the whole request (ms, measured; log scale)')\n"
            "    ax.set_ylabel('share of requests done')\n"
            "    ax.grid(True, which='both', alpha=0.3)\n"
            "    fig.legend(fontsize=8, loc='outside lower center', ncols=2)   # below the plot: off the curves\n"
            "    ax.set_title(title, fontsize=10)\n"
            "    return fig"
        ),
        md(
            "## 1. A flaky service\n\nThe `httpbin` topology: a service `httpbin` with two pods, and a client. We "
            "run it in **sidecar** mode, so the client's sidecar is the proxy that applies retries and timeouts "
            "(in ambient mode it would be the destination's waypoint, as in notebook 02). httpbin's "
            "`/status/200,503` answers 200 or 503 at random, half and half (configured): the failures come from "
            "the app itself, as a flaky backend's would."
        ),
        code(
            "lab = Lab('httpbin', mode='sidecar', verbose=False).start()\n"
            "SERVERS = ['httpbin-0', 'httpbin-1']\n"
            "FLAKY = 'http://httpbin:8000/status/200,503'"
        ),
        md(
            "### Predict, then run\n\nNo VirtualService yet — but Istio applies a default retry policy to every "
            "route. What share of 100 requests succeeds, in percent?"
        ),
        code("my_q1 = None   # a percentage, 0 to 100"),
        code("no_retries = measure(FLAKY)"),
        code(
            "rate1 = 100 * no_retries.summary()['requests']['success_rate']\n"
            "check('q1', my_q1, round(rate1),\n"
            "      \"Istio's default retry policy (2 retries) covers connection failures, refused streams and the gRPC \"\n"
            "      \"statuses unavailable and cancelled. Since Istio 1.24 it no longer retries 503: retrying a request \"\n"
            "      \"that did reach the app (a POST that went through) can do it twice. So the 503s pass straight \"\n"
            "      \"through, about half of them.\", ok=lambda a: abs(a - rate1) <= 10)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhat kinds of failure does a *default* retry policy dare to retry, "
            "when it cannot know whether the request is safe to repeat?\n</details>"
        ),
        md(
            "## 2. Retries that mask it\n\nA VirtualService for httpbin with an explicit retry policy: up to 3 "
            "retries, on any 5xx answer."
        ),
        code(
            "RETRIES = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: httpbin}\n"
            "spec:\n"
            "  hosts: [httpbin]\n"
            "  http:\n"
            "  - route:\n"
            "    - destination: {host: httpbin}\n"
            "    retries:\n"
            "      attempts: 3\n"
            "      retryOn: 5xx\n"
            "'''\n"
            "print(lab.apply(RETRIES))"
        ),
        md("### Predict, then run\n\nWhat share of 100 requests succeeds now, in percent?"),
        code("my_q2 = None   # a percentage, 0 to 100"),
        code(
            "with_retries = measure(FLAKY)\n"
            "print('tries per request (how many requests reached httpbin that often):', dict(sorted(Counter(tries(with_retries)).items())))"
        ),
        code(
            "rate2 = 100 * with_retries.summary()['requests']['success_rate']\n"
            "check('q2', my_q2, round(rate2),\n"
            "      '`attempts: 3` means 3 retries: 4 tries in all. A request fails only if all 4 fail, each with '\n"
            "      'probability 1/2: 1/16. Expected: 1 - 0.5**4 = 93.75% (a run of 100 varies by a few points).',\n"
            "      ok=lambda a: abs(a - rate2) <= 6)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA request now fails only when *every* try fails. Is `attempts` the "
            "number of tries, or of retries?\n</details>\n\n"
            "One request that needed the most tries — each retry is a new request from the client's sidecar, "
            "labelled with its attempt number (and Envoy may pick the other pod):"
        ),
        code(
            "most = max(with_retries.paths.values(), key=lambda p: sum(h.role == 'app' for h in p.hops))\n"
            "path_figure(most, title='retries at the client sidecar: one request, every try (measured)')"
        ),
        md(
            "## 3. The price: amplification and latency\n\nEvery retry is one more request for httpbin: the "
            "servers' counters above already received more requests than the client sent. Now the worst case: "
            "httpbin fails *every* request (`/status/503`) — a service that is down, or overloaded.\n\n"
            "### Predict, then run\n\nWith the same retry policy, how many requests does httpbin receive for each "
            "request the client sends?"
        ),
        code("my_q3 = None   # requests httpbin receives per client request"),
        code(
            "down = measure('http://httpbin:8000/status/503', n=50)\n"
            "per_request = sum(tries(down)) / len(down)"
        ),
        code(
            "check('q3', my_q3, per_request,\n"
            "      'Every request is tried 4 times, and every try reaches httpbin: load x4, exactly when the service '\n"
            "      'is least able to take it. When several layers retry (the client, its sidecar, a gateway...) the '\n"
            "      'factors multiply: a retry storm. Hence small attempts, retries only on idempotent routes, and '\n"
            "      'circuit breaking.', ok=lambda a: abs(a - per_request) < 0.3)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nNo try can succeed now, so every request uses all of its tries. "
            "How many tries does `attempts: 3` give?\n</details>\n\n"
            "Retries cost time too: between tries Envoy waits a jittered back-off (25 ms base interval, growing "
            "with each retry). The measured distributions of the three runs:"
        ),
        code(
            "latency_cdf({'default retry policy, 50% 503': no_retries, 'attempts: 3, 50% 503': with_retries,\n"
            "             'attempts: 3, 100% 503': down}, 'httpbin through the client sidecar: request latency')"
        ),
        md(
            "## 4. A fault on a route with retries\n\nCould you test retries with Istio's fault "
            "injection instead of a flaky app? The same route, with the same retry policy, plus a fault that "
            "aborts half of the requests with 503 (configured) — sent to `/get`, which always answers 200."
        ),
        code(
            "FAULT_AND_RETRIES = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: httpbin}\n"
            "spec:\n"
            "  hosts: [httpbin]\n"
            "  http:\n"
            "  - fault:\n"
            "      abort:\n"
            "        percentage: {value: 50}\n"
            "        httpStatus: 503\n"
            "    route:\n"
            "    - destination: {host: httpbin}\n"
            "    retries:\n"
            "      attempts: 3\n"
            "      retryOn: 5xx\n"
            "'''\n"
            "print(lab.apply(FAULT_AND_RETRIES))"
        ),
        md("### Predict, then run\n\nWhat share of 100 requests succeeds, in percent?"),
        code("my_q4 = None   # a percentage, 0 to 100"),
        code(
            "faulted = measure('http://httpbin:8000/get')\n"
            "print('tries per request:', dict(sorted(Counter(tries(faulted)).items())))"
        ),
        code(
            "rate4 = 100 * faulted.summary()['requests']['success_rate']\n"
            "check('q4', my_q4, round(rate4),\n"
            "      \"About half. In Envoy the fault filter comes before the router, which makes the tries: an aborted \"\n"
            "      \"request is answered by the fault filter of the client's sidecar and never reaches the router (0 \"\n"
            "      \"tries above, and the servers received only the other half), so no retry policy can see it.\",\n"
            "      ok=lambda a: abs(a - rate4) <= 12)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhere is the fault injected — before or after the proxy part that "
            "makes the tries?\n</details>\n\n"
            "### Does the route still retry?\n\nIstio's VirtualService reference says \"timeouts or retries will not "
            "be enabled when faults are enabled on the client side\". istiod's code says otherwise: it gives the "
            "route its retry policy and timeout whatever the fault (`TranslateRoute` in "
            "`pilot/pkg/networking/core/route/route.go`), so the sentence is true of the *injected* requests only "
            "(istio/istio#13705). This lab follows the code. The same route, now against the flaky `/status/200,503`: "
            "half the requests are aborted by the fault; the other half reach httpbin, which fails half of its "
            "answers.\n\n### Predict, then run\n\nOf the requests the fault lets through, what share succeeds, in "
            "percent?"
        ),
        code("my_q4b = None   # a percentage, 0 to 100"),
        code(
            "both = measure(FLAKY)\n"
            "status = {o['trace_id']: o['status'] for o in both.outcomes}\n"
            "through = [t for t, p in both.paths.items() if any(h.role == 'app' for h in p.hops)]\n"
            "aborted = len(both) - len(through)\n"
            "rate4b = 100 * sum(status[t] == 200 for t in through) / max(len(through), 1)\n"
            "print(f'aborted by the fault (no try): {aborted}; let through: {len(through)}, of which {rate4b:.0f}% succeeded')"
        ),
        code(
            "check('q4b', my_q4b, round(rate4b),\n"
            "      \"The router still has the route's retry policy (3 retries on 5xx): a request the fault lets \"\n"
            "      \"through fails only if all 4 tries get a 503 from httpbin, 1 - 0.5**4 = 93.75% succeed. Faults test \"\n"
            "      \"how callers cope with a failure; retries are tested against failures from upstream.\",\n"
            "      ok=lambda a: abs(a - rate4b) <= 10)"
        ),
        md(
            "The same goes for the route's `timeout`: an injected delay elapses in the fault filter, and the "
            "router's timeout starts after it, so a 7 s delay and a 1 s timeout on one route give a 7 s wait and no "
            "504 — unless the upstream then takes more than 1 s.\n\nThat is all for httpbin:"
        ),
        code("lab.stop()"),
        md(
            "## 5. Timeouts, on Bookinfo\n\nBookinfo's own code has timeouts (Istio's sample, kept here): reviews "
            "v2 waits up to 10 s for ratings, v3 up to 2.5 s; productpage waits 3 s for reviews and retries once. "
            "Again in sidecar mode."
        ),
        code(
            "lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n"
            "PAGE = 'http://productpage:9080/productpage'\n"
            "JASON = {'cookie': 'user=jason'}      # signed in as jason: productpage forwards end-user: jason"
        ),
        md(
            "### 5a. Istio's fault-injection task: a 7 s delay\n\nAll services to v1, except that jason gets "
            "reviews v2; and ratings delays jason's requests by **7 s** (configured, an injected fault):"
        ),
        code(
            "print(lab.apply([SAMPLES / 'destination-rule-all.yaml', SAMPLES / 'virtual-service-all-v1.yaml',\n"
            "                  SAMPLES / 'virtual-service-reviews-test-v2.yaml',\n"
            "                  SAMPLES / 'virtual-service-ratings-test-delay.yaml']))\n"
            "print((SAMPLES / 'virtual-service-ratings-test-delay.yaml').read_text())"
        ),
        md("### Predict, then run\n\nHow many seconds until jason's page comes back?"),
        code("my_q5 = None   # seconds"),
        code(
            "r = lab.request('client', PAGE, headers=JASON)\n"
            "print(f'{r.status} in {r.latency_ms / 1000:.2f} s;', 'reviews missing' if 'Error fetching product reviews' in r.body else 'reviews shown')\n"
            "r.path"
        ),
        code(
            "seconds = round(r.latency_ms / 1000, 2)\n"
            "check('q5', my_q5, seconds,\n"
            "      \"reviews v2 would wait out the 7 s (its limit is 10 s), but productpage gives up first: 3 s, one retry, \"\n"
            "      \"3 s more — about 6 s, then a page without reviews. The path shows productpage's two tries, each \"\n"
            "      \"cut at 3 s (the reviews pod was still waiting on ratings when they were cut, so they show as \"\n"
            "      \"unreached). Along a chain of calls, the most restrictive timeout wins.\",\n"
            "      ok=lambda a: abs(a - seconds) <= 1)"
        ),
        md(
            "<details><summary>Solution</summary>\n\nAbout 6 s: Istio's task page says so too, and calls "
            "productpage's hard-coded 3 s + 1 retry a bug \"introduced explicitly for illustration\". With reviews "
            "v3 (2.5 s to ratings) a delay under 2.5 s would be absorbed instead.\n</details>"
        ),
        md(
            "### 5b. Cutting a tail with a timeout\n\nNow a tail for everybody: all reviews traffic to v2 (so "
            "every page calls ratings), and **20%** of ratings calls delayed **2 s** (both configured). First "
            "without a timeout:"
        ),
        code(
            "TAIL = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: reviews}\n"
            "spec:\n"
            "  hosts: [reviews]\n"
            "  http:\n"
            "  - route:\n"
            "    - destination: {host: reviews, subset: v2}\n"
            "---\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: ratings}\n"
            "spec:\n"
            "  hosts: [ratings]\n"
            "  http:\n"
            "  - fault:\n"
            "      delay:\n"
            "        percentage: {value: 20}\n"
            "        fixedDelay: 2s\n"
            "    route:\n"
            "    - destination: {host: ratings, subset: v1}\n"
            "'''\n\n\n"
            "def no_reviews(res):\n"
            "    \"\"\"Pages where productpage got no answer from reviews (none of its calls to reviews came back 200).\"\"\"\n"
            "    n = 0\n"
            "    for p in res.paths.values():\n"
            "        calls = [h for h in p.hops if h.direction == 'outbound' and (h.target or '').startswith('reviews:')]\n"
            "        n += bool(calls) and not any(h.status == 200 for h in calls)\n"
            "    return n\n\n\n"
            "def page_load(label):\n"
            "    res = lab.load('client', PAGE, requests=100, concurrency=8, progress=False)\n"
            "    q = res.summary()['latency_ms']\n"
            "    print(f\"{label}: p50 {q['p50']:.0f} ms, p90 {q['p90']:.0f} ms, p99 {q['p99']:.0f} ms, slowest {q['max']:.0f} ms; \"\n"
            "          f'pages without reviews: {no_reviews(res)} of {len(res)}')\n"
            "    return res\n\n\n"
            "lab.delete(all=True)\n"
            "print(lab.apply([SAMPLES / 'destination-rule-all.yaml', TAIL]))\n"
            "slow = page_load('no timeout')"
        ),
        md(
            "Istio's *request timeouts* task sets a timeout on the reviews route: `timeout: 0.5s` (it covers all "
            "tries of a request; Envoy answers 504 when it fires).\n\n### Predict, then run\n\nWith the timeout, "
            "how long does the slowest page take?\n\n- **a** about 0.5 s\n- **b** about 1 s\n- **c** about 2 s, "
            "as before"
        ),
        code("my_q6 = None   # 'a', 'b' or 'c'"),
        code(
            "WITH_TIMEOUT = TAIL.replace('subset: v2}\\n', 'subset: v2}\\n    timeout: 0.5s\\n', 1)\n"
            "print(lab.apply(WITH_TIMEOUT))\n"
            "cut = page_load('timeout 0.5s')"
        ),
        code(
            "slowest = max(cut.latencies_ms()) / 1000\n"
            "check('q6', my_q6, min({'a': 0.5, 'b': 1.0, 'c': 2.0}.items(), key=lambda kv: abs(kv[1] - slowest))[0],\n"
            "      \"The sidecar cuts a slow reviews call at 0.5 s (504), and productpage's own code retries once: a page \"\n"
            "      \"whose two tries both hit the delay takes about 2 x 0.5 s and shows no reviews, as in Istio's task \"\n"
            "      \"(about 1 s). The tail is shorter, and paid for in pages without reviews.\")"
        ),
        code(
            "latency_cdf({'no timeout': slow, 'timeout: 0.5s on reviews': cut},\n"
            "            'Bookinfo, 20% of ratings calls delayed 2 s (configured): page latency')"
        ),
        md(
            "<details><summary>Solution</summary>\n\nUsually **b**. A page is as slow as its slowest path: one "
            "timed-out try (0.5 s) and a fast retry gives ~0.5 s; two timed-out tries give ~1 s. With 20% of "
            "calls delayed, expect 20% × 20% = 4% of pages to get two (a run of 100 has none only rarely). Had the timeout been over 3 s, it would have changed "
            "nothing: productpage's own 3 s would fire first.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 6. Your task: stop the retry storm\n\nSection 3 showed the price of retries when a service is down: "
            "every request becomes `attempts + 1`. On a fresh httpbin lab (sidecar mode), the task's first cell "
            "applies a VirtualService that retries up to 10 times on any 5xx; the goal names your flaky endpoint "
            "(each learner gets a failure rate and a budget). Rewrite the retry policy: an outage must cost at most "
            "the budget in tries per request, and the flaky endpoint must still succeed at least 90% of the time. "
            "The check sends 300 requests to the flaky endpoint and 12 to `/status/503` (httpbin down), and counts "
            "on each request's path how many times it reached httpbin."
        ),
        *task_cells(
            "04-retries-and-timeouts",
            "stop-the-retry-storm",
            "lab = Lab('httpbin', mode='sidecar', verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nWith a failure rate p and k tries, a request fails only when all "
            "k fail: p<sup>k</sup>. An outage makes every request use all k. `attempts` counts retries: k = "
            "attempts + 1.\n</details>\n\n<details><summary>Solution</summary>\n\n`attempts: budget - 1` and "
            "`retryOn: 5xx`: at 25% failures, 1 retry gives 1 - 0.25² = 93.75% and 2 tries in an outage; at 40%, 2 "
            "retries give 93.6% and 3 tries. One fewer retry misses 90%; one more breaks the budget. A "
            "DestinationRule can also cap the retries in flight to a whole service (`connectionPool.http."
            "maxRetries`), which bounds a storm without giving up retries.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 7. Your task: a deadline for the page\n\nIstio's *request timeouts* task: ratings is slow (an "
            "injected delay on every call, configured), every page goes through reviews v2, which waits for "
            "ratings, and a timeout on the reviews route bounds the wait. The goal names your delay and your limit "
            "for the whole page. The task's first cell sets up the routes and the delay on a fresh Bookinfo "
            "(sidecar mode); your VirtualService replaces the reviews route. The check loads 6 pages and times the "
            "slowest."
        ),
        *task_cells(
            "04-retries-and-timeouts",
            "page-deadline",
            "lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nSection 5a: productpage's own code tries reviews twice. How long "
            "can a page wait if each try is cut at your timeout?\n</details>\n\n<details><summary>Solution</summary>"
            "\n\nLess than half the limit, with room for the rest of the page: `0.5s` for a 1.5 s limit (Istio's "
            "task uses 0.5 s and sees the page in about 1 s), up to about `1s` for 2.5 s. The reviews are then cut "
            "off (\"Error fetching product reviews\"): a deadline is paid for in answers.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 8. Try it with the control panel\n\nNotebook 01's control panel has this notebook's knobs for one "
            "service at a time: retry attempts, `perTryTimeout`, `retryOn`, a `timeout`, an injected delay or abort. "
            "On a Bookinfo in sidecar mode, pick *policy for: ratings*, inject an abort of 503 for 50% of requests "
            "and send traffic: the pages lose their stars (the waterfall shows where). Add retries on `5xx`: the "
            "abort stays (section 4: a fault is injected before the router that retries). Then a 2 s delay on "
            "ratings and a 0.5 s timeout on reviews (the panel sets one service at a time): the reviews timeout "
            "cuts the wait (section 5); on one and the same route, the timeout would start only after the injected "
            "delay (istiod's code; Istio's reference says faults switch a route's retries and timeout off — section "
            "4). The panel shows the YAML of every change."
        ),
        code(
            "from meshlab import Lab\n"
            "from meshlab.widgets import ControlPanel\n"
            "lab = Lab('bookinfo', mode='sidecar').start()\n"
            "ControlPanel(lab)"
        ),
        md(
            "The lab keeps running for the panel. When you are done with it, stop it by running the cell below "
            "without its `#` (it also stops when the kernel shuts down)."
        ),
        code("# lab.stop()"),
        md(
            "## What you learned\n\n"
            "- Istio's default retry policy retries failed connections, refused streams and two gRPC statuses, but "
            "not 503 (since 1.24); a "
            "`retries` block can mask a flaky service almost completely (`attempts` counts retries, not tries).\n"
            "- Retries multiply load: a service that fails everything receives `attempts + 1` requests for each one "
            "sent, and back-off adds latency.\n"
            "- An injected fault is made before the router: an aborted request is never retried and an injected "
            "delay does not count against the route's timeout, but the route keeps its retries and timeout for "
            "failures from upstream (istiod's code; Istio's reference says faults switch them off).\n"
            "- A timeout cuts the tail and trades it for errors; along a chain of calls the most restrictive "
            "timeout wins, and the callers' own retries multiply it.\n\n" + next_link(NAME)
        ),
    ]
