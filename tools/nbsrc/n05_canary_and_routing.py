"""Notebook 05-canary-and-routing: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "05-canary-and-routing"
TITLE = "05 canary and routing"

DOCS = "https://istio.io/latest/docs/tasks/traffic-management"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 05 · Canary and request routing\n\n"
            "**Goal:** release a new version of a service the way Istio's *request routing* and *traffic shifting* "
            "tasks do — one user first (a header match), then a weighted canary stepped 10% → 50% → 100% and rolled "
            "back — in sidecar mode and in ambient mode through a waypoint; learn how much a measured share "
            "varies by chance, and what a route to a subset that no DestinationRule defines does. Every count and "
            "share below is measured in this run; weights are *configured* and labelled so.\n\n" + nav(NAME)
        ),
        md(
            "## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `split` loads "
            "Bookinfo's product page `n` times and counts which reviews version served each page (read off each "
            "request's path: the reviews pod it reached); `weights` writes a VirtualService that splits reviews "
            "between subsets."
        ),
        code(
            "from matplotlib.figure import Figure\n"
            "from meshlab import Lab\n"
            "from meshlab.probes import served_by\n"
            "from meshlab.topology.loader import TOPOLOGY_DIR\n"
            "from meshlab.viz import path_figure\n"
            "SAMPLES = TOPOLOGY_DIR / 'samples' / 'bookinfo'      # the YAML of Istio's Bookinfo tasks\n"
            "PAGE = 'http://productpage:9080/productpage'\n\n" + check_setup(NAME) + "\n\n"
            "def split(n, **kw):\n"
            "    \"\"\"n product pages from the client; how many each reviews version served ('none': no reviews pod).\"\"\"\n"
            "    res = lab.load('client', PAGE, requests=n, concurrency=4, progress=False, **kw)\n"
            "    return served_by(res)\n\n\n"
            "def weights(**w):\n"
            "    \"\"\"A VirtualService sending reviews traffic to subsets by weight: weights(v1=90, v3=10).\"\"\"\n"
            "    dests = ''.join(f'    - destination: {{host: reviews, subset: {s}}}\\n      weight: {x}\\n' for s, x in w.items())\n"
            "    return ('apiVersion: networking.istio.io/v1\\nkind: VirtualService\\nmetadata: {name: reviews}\\n'\n"
            "            'spec:\\n  hosts: [reviews]\\n  http:\\n  - route:\\n' + dests)"
        ),
        md(
            "## 1. One user first: a header match\n\n"
            f"Istio's [request routing]({DOCS}/request-routing/) task, in **sidecar** mode: a DestinationRule per "
            "service names the subsets (`v1`, `v2`, `v3` by the pods' `version` label); "
            "`virtual-service-all-v1.yaml` sends every service to v1; then `virtual-service-reviews-test-v2.yaml` "
            "sends requests that carry the header `end-user: jason` to v2. The rules of an `http:` list are tried "
            "in order and the first match wins ([VirtualService reference]"
            "(https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRoute))."
        ),
        code(
            "lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n"
            "print(lab.apply([SAMPLES / 'destination-rule-all.yaml', SAMPLES / 'virtual-service-all-v1.yaml',\n"
            "                  SAMPLES / 'virtual-service-reviews-test-v2.yaml']))\n"
            "print((SAMPLES / 'virtual-service-reviews-test-v2.yaml').read_text())\n"
            "print('signed in as jason (cookie user=jason):', split(20, headers={'cookie': 'user=jason'}))\n"
            "print('anonymous:', split(20))"
        ),
        md(
            "The client never sends `end-user`: it signs in (a cookie), and **productpage** adds `end-user: jason` "
            "to its own call to reviews — the call that productpage's sidecar routes. Istio's productpage does the "
            "same: it sets `end-user` from the session and forwards a fixed list of headers "
            "(`getForwardHeaders` in `samples/bookinfo/src/productpage/productpage.py`). **Where the lab "
            "simplifies:** Istio's productpage keeps the user in Flask's signed session cookie, set by its login "
            "form; the lab's takes a plain `user=jason` cookie as signed in.\n\n"
            "### Predict, then run\n\nThe client now sends the header `end-user: jason` itself, with no cookie. "
            "Which reviews version serves its 20 pages? (`'v1'`, `'v2'` or `'mixed'`)"
        ),
        code("my_q1 = None   # 'v1', 'v2' or 'mixed'"),
        code("header_only = split(20, headers={'end-user': 'jason'})\nprint(header_only)"),
        code(
            "versions = sorted(k.replace('reviews-', '') for k in header_only)\n"
            "seen = versions[0] if len(versions) == 1 else 'mixed'\n"
            "check('q1', my_q1, seen,\n"
            "      \"The match is evaluated on the request productpage's sidecar routes: productpage's call to reviews. \"\n"
            "      \"productpage does not pass on a header it received unless it is in its list, and it sets end-user \"\n"
            "      \"only for a signed-in user. A route can only match what the caller of the service actually sends.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhich request does the header match look at: the client's request "
            "to productpage, or productpage's request to reviews?\n</details>"
        ),
        md(
            "## 2. A weighted canary: 10%, and how much that varies\n\n"
            f"Istio's [traffic shifting]({DOCS}/traffic-shifting/) task moves reviews from v1 to v3 by weights: "
            "\"A destination will receive `weight/(sum of all weights)` requests\" ([VirtualService reference]"
            "(https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRouteDestination)). "
            "Envoy draws the destination at random for each request, so a weight is a probability, not a "
            "quota. The first step: 10% to v3 (configured)."
        ),
        code("print(weights(v1=90, v3=10))\nprint(lab.apply(weights(v1=90, v3=10)))"),
        md("### Predict, then run\n\nOf 100 pages, how many come from reviews v3?"),
        code("my_q2 = None   # a number of pages, 0 to 100"),
        code("ten = split(100)\nprint(ten)\nk3 = ten.get('reviews-v3', 0)"),
        code(
            "check('q2', my_q2, k3,\n"
            "      'About 10: each page goes to v3 with probability 0.1. But only about: the count is binomial, '\n"
            "      'with mean n p = 10 and standard deviation sqrt(n p (1 - p)) = 3, so 4 or 16 are no surprise.',\n"
            "      ok=lambda a: abs(a - k3) <= 7)"
        ),
        md(
            "### Predict, then run\n\nRun the same 100 pages 20 times (2000 pages). What is the standard deviation "
            "of the v3 count across the 20 runs?"
        ),
        code("my_q3 = None   # pages"),
        code(
            "runs = [split(100).get('reviews-v3', 0) for _ in range(20)]\n"
            "mean = sum(runs) / len(runs)\n"
            "sd = (sum((x - mean) ** 2 for x in runs) / (len(runs) - 1)) ** 0.5\n"
            "print('v3 pages in each run of 100:', runs)\n"
            "print(f'mean {mean:.1f}, standard deviation {sd:.1f}, from {min(runs)} to {max(runs)}')"
        ),
        code(
            "check('q3', my_q3, round(sd, 1),\n"
            "      'The binomial spread: sqrt(100 x 0.1 x 0.9) = 3 pages (20 runs estimate it roughly). To pin a 10% '\n"
            "      'canary to ±1 point (two standard deviations, 95% of runs) takes 2 sqrt(0.09 / n) <= 0.01: n = 3600 '\n"
            "      'requests. A canary '\n"
            "      'judged on a few dozen requests (the traffic-shifting task suggests refreshing 15 or more times) '\n"
            "      'shows the split, not its precision.', ok=lambda a: abs(a - sd) <= 1.5)"
        ),
        code(
            "from math import comb\n"
            "fig = Figure(figsize=(8, 3.2), layout='constrained')\n"
            "ax = fig.add_subplot()\n"
            "ax.hist(runs, bins=range(0, 26), color='#0072B2', alpha=0.8, label='measured: 20 runs of 100 pages')\n"
            "ax.plot(range(26), [20 * comb(100, k) * 0.1 ** k * 0.9 ** (100 - k) for k in range(26)], 'o-',\n"
            "        color='#E69F00', label='binomial(100, 0.1) x 20 runs (expected from the configured weight)')\n"
            "ax.set_xlabel('pages served by reviews v3, of 100')\n"
            "ax.set_ylabel('runs')\n"
            "ax.legend(fontsize=8)\n"
            "ax.set_title('weight 10 on v3 (configured): how many pages v3 served', fontsize=10)\n"
            "fig"
        ),
        md(
            "<details><summary>Hint</summary>\n\nEach page is a coin toss that lands on v3 with probability 0.1. "
            "The count of n such tosses has variance n p (1 - p).\n</details>"
        ),
        md(
            "## 3. 50%, 100%, and a rollback\n\nThe task's next steps: 50/50 (`virtual-service-reviews-50-v3.yaml`), "
            "then all to v3 (`virtual-service-reviews-v3.yaml`); and a rollback to v1, which is one more apply. "
            "Each step reaches the running sidecars at once here (the lab's istiod pushes it; no pod restarts; "
            "Istio's pushes are eventually consistent — its guidelines say to wait a few seconds for a change to "
            "propagate). 200 "
            "pages per step:"
        ),
        code(
            "steps = {'10% v3': weights(v1=90, v3=10), '50% v3': SAMPLES / 'virtual-service-reviews-50-v3.yaml',\n"
            "         '100% v3': SAMPLES / 'virtual-service-reviews-v3.yaml', 'rollback': weights(v1=100, v3=0)}\n"
            "shares = {}\n"
            "for step, vs in steps.items():\n"
            "    lab.apply(vs)\n"
            "    shares[step] = split(200)\n"
            "    print(f'{step:>9}: {shares[step]}')"
        ),
        code(
            "fig = Figure(figsize=(8, 3.0), layout='constrained')\n"
            "ax = fig.add_subplot()\n"
            "bottom = [0] * len(shares)\n"
            "for version, color in (('reviews-v1', '#0072B2'), ('reviews-v2', '#009E73'), ('reviews-v3', '#D55E00')):\n"
            "    h = [100 * s.get(version, 0) / sum(s.values()) for s in shares.values()]\n"
            "    ax.bar(list(shares), h, bottom=bottom, color=color, label=version)\n"
            "    bottom = [b + x for b, x in zip(bottom, h)]\n"
            "ax.set_ylabel('% of 200 pages (measured)')\n"
            "ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1, 1))\n"
            "ax.set_title('reviews versions per canary step (weights configured, shares measured)', fontsize=10)\n"
            "fig"
        ),
        md(
            "`weight: 0` sends nothing to v3 (\"if weight is `0`, the destination will not receive any traffic\"). "
            "In Istio a rollback is the same as a step: apply the old weights. Keeping v3's pods running with "
            "weight 0 makes the next attempt one apply away."
        ),
        md(
            "## 4. A route to a subset nobody defined\n\n"
            "A VirtualService names subsets; a DestinationRule defines them. What if the route names a subset the "
            "DestinationRule does not define — a typo, or the VirtualService applied before its DestinationRule? "
            "Here the DestinationRule for reviews defines only v1 and v2, and the route sends everything to v3."
        ),
        code(
            "DR_V1_V2 = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: DestinationRule\n"
            "metadata: {name: reviews}\n"
            "spec:\n"
            "  host: reviews\n"
            "  subsets:\n"
            "  - {name: v1, labels: {version: v1}}\n"
            "  - {name: v2, labels: {version: v2}}\n"
            "'''\n"
            "lab.verbose = True          # show the lab's warnings\n"
            "print(lab.apply([DR_V1_V2, SAMPLES / 'virtual-service-reviews-v3.yaml']))\n"
            "lab.verbose = False"
        ),
        md(
            "### Predict, then run\n\nWhat does the client get for the product page?\n\n"
            "- **a** the page, with reviews from v3 (the pods exist)\n"
            "- **b** the page, with reviews from v1 or v2 (a fallback)\n"
            "- **c** the page (200), without reviews\n"
            "- **d** an error for the whole page (503)"
        ),
        code("my_q4 = None   # 'a', 'b', 'c' or 'd'"),
        code(
            "r = lab.request('client', PAGE)\n"
            "no_reviews = 'Error fetching product reviews' in r.body\n"
            "print(f'page: {r.status};', 'reviews missing' if no_reviews else 'reviews shown')\n"
            "for s in lab.spans(r.trace_id):\n"
            "    if s.attrs.get('response_flags', '-') != '-':\n"
            "        print(f\"{s.name}: {s.status}, cluster {s.attrs.get('cluster')}, response flags {s.attrs['response_flags']}\")\n"
            "r.path"
        ),
        code(
            "seen = 'd' if r.status != 200 else 'c' if no_reviews else 'a or b'\n"
            "check('q4', my_q4, seen,\n"
            "      \"productpage's sidecar has a route to a cluster (reviews, subset v3) that does not exist: it \"\n"
            "      \"answers productpage's call itself with 503, and no reviews pod is reached (both of productpage's \"\n"
            "      \"tries). productpage copes: a 200 page that says 'Error fetching product reviews'. A missing \"\n"
            "      \"subset is never a fallback: the route fails, it does not widen.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhich proxy turns `subset: v3` into a set of pods, and with what? "
            "And what does productpage do when its call to reviews fails?\n</details>\n\n"
            "**In Istio.** istiod writes the route with the cluster name `outbound|9080|v3|reviews.default.svc."
            "cluster.local` and no such cluster, because clusters for subsets come from DestinationRules. Envoy "
            "answers a request whose route names a missing cluster with **503** "
            "([`cluster_not_found_response_code`](https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/"
            "route_components.proto), default 503) and logs the response flag **`NC`**, \"upstream cluster not "
            "found\" ([Envoy access-log flags](https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/"
            "access_log/usage)). The lab does the same: 503, flag `NC`, in the span above and in the sidecar's "
            "`istio_requests_total{response_flags=\"NC\"}`.\n\n"
            "**Where the lab differs:** `kubectl apply` accepts such a VirtualService without a word (validation "
            "checks each object alone); `istioctl analyze` reports it as [IST0101 ReferencedResourceNotFound]"
            "(https://istio.io/latest/docs/reference/config/analysis/ist0101/) (\"Referenced host+subset in "
            "destinationrule not found\"). The lab warns at apply time, as `istioctl analyze` would. Istio's "
            "deployment guidelines call the fix **make-before-break**: apply the DestinationRule with a new subset "
            "first, wait for it to reach the proxies, then the VirtualService that uses it; remove a subset in the "
            "reverse order ([guidelines](https://istio.io/v1.0/help/ops/traffic-management/deploy-guidelines/), "
            "\"503 errors while reconfiguring service routes\")."
        ),
        code(
            "print(lab.apply(SAMPLES / 'destination-rule-all.yaml'))   # make: v3 defined, and the route works\n"
            "print(split(20))\n"
            "lab.stop()"
        ),
        md(
            "## 5. The same canary in ambient mode\n\n"
            "In ambient mode the L4 proxy, ztunnel, \"does not terminate workload HTTP traffic or parse workload HTTP "
            "headers\" ([ambient overview](https://istio.io/latest/docs/ambient/overview/)); HTTP routing needs a "
            "waypoint ([waypoint page](https://istio.io/latest/docs/ambient/usage/waypoint/)). Istio's classic "
            "routing APIs (VirtualService, DestinationRule) are Alpha in ambient mode "
            "([L7 features](https://istio.io/latest/docs/ambient/usage/l7-features/)); the lab applies them at the "
            "waypoint, as istiod's code does (it builds a waypoint cluster per subset). Istio's guide to migrating "
            "policies to ambient says a VirtualService at a waypoint is Alpha and works only in limited cases, and "
            "advises one Service per version with Gateway API HTTPRoutes; the lab reads both kinds (notebook 02's "
            "`jason-to-reviews-v2` task takes either, on the `bookinfo-versions` topology, which has a Service per "
            "reviews version). The 50/50 canary, in ambient mode with no waypoint:"
        ),
        code(
            "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"
            "print(lab.apply([SAMPLES / 'destination-rule-all.yaml', SAMPLES / 'virtual-service-reviews-50-v3.yaml']))"
        ),
        md("### Predict, then run\n\nWhat share of 300 pages comes from reviews v3, in percent?"),
        code("my_q5 = None   # a percentage, 0 to 100"),
        code(
            "no_waypoint = split(300)\n"
            "print(no_waypoint)\n"
            "share5 = 100 * no_waypoint.get('reviews-v3', 0) / 300"
        ),
        code(
            "check('q5', my_q5, round(share5),\n"
            "      'About a third: nothing reads the VirtualService. ztunnel carries connections, not requests, and '\n"
            "      'spreads them over the three reviews pods (v2 serves its third too). The weights wait for a proxy '\n"
            "      'that parses HTTP.', ok=lambda a: abs(a - share5) <= 10)"
        ),
        md(
            "Now give reviews a waypoint (what `istioctl waypoint apply` and the `istio.io/use-waypoint` label on "
            "the reviews Service do; notebook 02) — the same objects in force, no pod restarted:"
        ),
        code("print(lab.set_waypoints(['reviews']))\nthrough = split(300)\nprint(through)"),
        code(
            "res = lab.load('client', PAGE, requests=1, progress=False)\n"
            "path_figure(next(iter(res.paths.values())), title='ambient: the call to reviews crosses its waypoint, '\n"
            "            'which picks the subset (measured)')"
        ),
        md(
            "The waypoint is the destination's proxy: it routes for every caller of reviews, and the weights apply "
            "there. In sidecar mode the same VirtualService was applied by each *caller's* sidecar. (A ztunnel's "
            "hatched bar is the part of its connection that carried this request; \"connection open\" is how long "
            "that connection has been open — the waypoint keeps its HBONE connections and reuses them.)"
        ),
        code("lab.stop()"),
        md(
            "## 6. Your task: a canary step\n\n"
            "A fresh Bookinfo in sidecar mode, with Istio's `destination-rule-all.yaml` and "
            "`virtual-service-all-v1.yaml` in force (the task's first cell applies them). Your goal names your "
            "canary's weight. The check loads 400 pages and accepts the measured share of v3 within 4 binomial "
            "standard deviations of it, and reads the weights in force."
        ),
        *task_cells(NAME, "canary-step", "lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n"),
        md(
            "<details><summary>Hint</summary>\n\nTwo destinations in one route, subsets v1 and v3; each gets "
            "`weight / sum of the weights`.\n</details>\n\n<details><summary>Solution</summary>\n\n`v1` with "
            "`100 - weight` and `v3` with `weight` (for 50%: 50 and 50, Istio's "
            "`virtual-service-reviews-50-v3.yaml`). Each destination gets weight / (sum of all weights); "
            "weights that sum to 100 read as percent.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 7. Your task: a tester and a canary, through the waypoint\n\n"
            "Ambient mode. The tester must always see v2 while everybody else is on a v1/v3 canary. The task's first "
            "cell deploys a waypoint named `waypoint` (as `istioctl waypoint apply` names it) and the "
            "DestinationRules; no service uses the waypoint yet. Your goal names the tester and the split."
        ),
        *task_cells(
            NAME,
            "tester-and-canary-through-the-waypoint",
            "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nTwo rules, in order: first the header match (what header does "
            "productpage set for a signed-in user?), then the split with no match. And which label makes the "
            "reviews Service use a waypoint?\n</details>\n\n<details><summary>Solution</summary>\n\n"
            "`istio.io/use-waypoint: waypoint`; match `end-user` exact your tester → subset `v2`; then `v1` with "
            "the stable weight and `v3` with the canary's. Without the label the VirtualService is in force and "
            "does nothing: ztunnel never reads a header.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- A header match routes one user: the rules are tried in order, the first match wins, and the match "
            "sees only what the calling app sends (productpage sets `end-user`; a header the client sends is not "
            "passed on).\n"
            "- A weight is a probability per request: n requests to a weight p give n p, give or take "
            "sqrt(n p (1 - p)) — about ±3 for 10% of 100. Judge a canary on enough requests.\n"
            "- Stepping a canary and rolling it back are the same act: apply new weights; the proxies change "
            "within moments (at once in the lab) and no pod restarts.\n"
            "- A route to a subset no DestinationRule defines fails with 503, flag `NC` (no cluster), at the "
            "proxy; it does not fall back. Apply DestinationRules before the routes that use them "
            "(make-before-break); `istioctl analyze` (IST0101) finds the mistake.\n"
            "- In ambient mode routing happens at the destination's waypoint: without one, a VirtualService is "
            "in force and nothing applies it.\n\n" + next_link(NAME)
        ),
    ]
