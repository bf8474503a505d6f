"""Notebook 02-waypoints: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "02-waypoints"
TITLE = "02 waypoints"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 02 · Waypoints: L7 in ambient mode\n\n"
            "**Goal:** see why, in ambient mode, Istio's HTTP features — routing rules, L7 authorization — do "
            "nothing until a **waypoint** carries a service's traffic; add one as Istio YAML and measure what "
            "changes: an extra hop, a different identity at the destination, and routing that works. Then meet "
            "the classic pitfall: an L7 authorization policy bound to a workload, which ztunnel enforces by "
            "denying everything.\n\n" + nav("02-waypoints")
        ),
        md(
            "## 0. Setup\n\nHelpers for this notebook: `check` compares your prediction with what the lab "
            "measured (leave a prediction at `None` and it just says *not answered yet*); `served_by` counts which "
            "reviews pod served each page of a load; `call_to` picks out the hops of productpage's call to a "
            "service; `show` shows hops, as a table, with the identity each one saw."
        ),
        code(
            "from collections import Counter\n"
            "from IPython.display import display\n"
            "from meshlab import Lab\n"
            "from meshlab.tables import Table\n"
            "from meshlab.viz import path_figure, topology_figure\n"
            "PAGE = 'http://productpage:9080/productpage'\n"
            "NO_REVIEWS = 'Error fetching product reviews'      # what productpage shows when reviews fail\n\n"
            + check_setup('02-waypoints')
            + "\n\n"
            "def served_by(res):\n"
            "    \"\"\"How many pages of a load each reviews pod served.\"\"\"\n"
            "    pods = Counter(next((h.name for h in p.hops if h.role == 'app' and h.name.startswith('reviews-')), 'none')\n"
            "                   for p in res.paths.values())\n"
            "    return dict(sorted(pods.items()))\n\n\n"
            "def call_to(path, prefix):\n"
            "    \"\"\"The hops of productpage's call to the first app whose pod name starts with prefix.\"\"\"\n"
            "    hops = path.hops\n"
            "    i = next(k for k, h in enumerate(hops) if h.role == 'app' and h.name.startswith(prefix))\n"
            "    pp = next(h for h in hops if h.name.startswith('productpage-'))\n"
            "    j = i\n"
            "    while j > 0 and pp.depth < hops[j - 1].depth < hops[j].depth:\n"
            "        j -= 1\n"
            "    return list(hops[j:i + 1])\n\n\n"
            "def show(hops):\n"
            "    display(Table(('hop', 'role', 'side', 'layer', 'reached over'),\n"
            "                  [(h.name, h.role, h.direction, h.layer, f'mTLS, peer {h.identity}' if h.mtls else '-')\n"
            "                   for h in hops]))"
        ),
        md(
            "## 1. Bookinfo in ambient mode, no waypoint\n\nEvery pod is enrolled in ambient mode: one ztunnel per "
            "node carries its pods' connections, over HBONE (HTTP/2 CONNECT inside mutual TLS, port 15008)."
        ),
        code(
            "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\nr = lab.request('client', PAGE)\nr"
        ),
        md(
            "Every call goes app → ztunnel (outbound, the caller's node) ⇒ ztunnel (inbound, the callee's node) → "
            "app. The ztunnel hops are **L4**: they carry a connection, and have no HTTP status to show — ztunnel "
            "never parses HTTP."
        ),
        md(
            "## 2. A routing rule with nobody to apply it\n\nIstio's *traffic shifting* task ends by sending all of "
            "reviews' traffic to v3 (red stars). That takes the subsets of a DestinationRule and a VirtualService "
            "(the task's own files are in `topologies/samples/bookinfo/`). In ambient mode Istio recommends the Gateway "
            "API's HTTPRoute for this; VirtualService works with waypoints but is still Alpha there. The lab reads "
            "both. An HTTPRoute's backends are Services, so splitting by version takes one Service per version "
            "(Istio's ambient getting-started applies `bookinfo-versions.yaml`, which adds `reviews-v1` ... "
            "`reviews-v3`). Sections 2-5 run the lab's `bookinfo`, which has only `reviews`, so they use subsets "
            "and a VirtualService; section 7's task runs `bookinfo-versions` (the same Bookinfo plus those three "
            "Services), so there you may answer with either."
        ),
        code(
            "REVIEWS_SUBSETS = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: DestinationRule\n"
            "metadata: {name: reviews}\n"
            "spec:\n"
            "  host: reviews\n"
            "  subsets:\n"
            "  - {name: v1, labels: {version: v1}}\n"
            "  - {name: v2, labels: {version: v2}}\n"
            "  - {name: v3, labels: {version: v3}}\n"
            "'''\n"
            "ALL_V3 = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: reviews}\n"
            "spec:\n"
            "  hosts: [reviews]\n"
            "  http:\n"
            "  - route:\n"
            "    - destination: {host: reviews, subset: v3}\n"
            "'''"
        ),
        md(
            "### Predict, then run\n\nYou apply both to the running lab, then load the page 60 times. How many "
            "of those pages does **reviews-v3** serve?\n\n- **a** all 60\n- **b** about a third, as before\n"
            "- **c** none"
        ),
        code("my_q1 = None   # 'a', 'b' or 'c'"),
        code(
            "print(lab.apply([REVIEWS_SUBSETS, ALL_V3]))\n"
            "for w in lab.warnings:\n"
            "    print('warning:', w)\n"
            "before = lab.load(requests=60, concurrency=2, progress=False)\n"
            "print('pages served by:', served_by(before))"
        ),
        code(
            "n3 = served_by(before).get('reviews-v3-0', 0)\n"
            "check('q1', my_q1, 'a' if n3 == 60 else 'c' if n3 == 0 else 'b',\n"
            "      'With no waypoint, the only proxies on the path are ztunnels, and ztunnel never parses HTTP: it does '\n"
            "      'not see requests, so it cannot route them by a VirtualService. Each connection still goes to any '\n"
            "      'reviews pod, as with no mesh. The lab warned about exactly this when you applied it.')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nLook at the path in section 1: which proxies are on the call from "
            "productpage to reviews, and at which layer do they work?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\n**b**. A VirtualService is L7 configuration: Envoy applies it "
            "in a client's sidecar or in the destination's waypoint. In ambient mode without a waypoint there is "
            "neither, so Istio accepts the object and nothing enforces it. Its ambient docs list HTTP routing, "
            "retries, timeouts, fault injection and L7 authorization as features that need a waypoint.\n</details>"
        ),
        md(
            "## 3. Add a waypoint — as YAML\n\nIn Istio a waypoint is a Kubernetes Gateway with "
            "`gatewayClassName: istio-waypoint`, which istiod turns into a proxy deployment; a service uses it once "
            "the service (or its namespace) carries the label `istio.io/use-waypoint: <gateway name>`. "
            "(`istioctl waypoint apply` writes the Gateway; the lab's shortcut for both is "
            "`lab.set_waypoints(['reviews'])`.) We apply the two pieces one at a time — the label first."
        ),
        code(
            "USE_WAYPOINT = '''\\\n"
            "apiVersion: v1\n"
            "kind: Service\n"
            "metadata:\n"
            "  name: reviews\n"
            "  namespace: default\n"
            "  labels:\n"
            "    istio.io/use-waypoint: waypoint\n"
            "'''"
        ),
        md(
            "### Predict, then run\n\nOnly the label, no Gateway yet. Does productpage's call to reviews now pass "
            "through a waypoint?"
        ),
        code("my_q2 = None   # True or False"),
        code(
            "print(lab.apply(USE_WAYPOINT))\n"
            "for w in lab.warnings:\n"
            "    print('warning:', w)\n"
            "hops = call_to(lab.request('client', PAGE).path, 'reviews-')\n"
            "print('productpage -> reviews:', ' -> '.join(h.role for h in hops))"
        ),
        code(
            "check('q2', my_q2, any(h.role == 'waypoint' for h in hops),\n"
            "      'A label naming a waypoint that no Gateway defines is not followed: as in Istio, ztunnel sends the '\n"
            "      'traffic straight to the destination, and the lab warns. Nothing breaks — and nothing L7 happens.')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nThe label is a pointer. What is there to point at?\n</details>"
        ),
        md("Now the Gateway itself, as `istioctl waypoint generate --for service` prints it:"),
        code(
            "WAYPOINT = '''\\\n"
            "apiVersion: gateway.networking.k8s.io/v1\n"
            "kind: Gateway\n"
            "metadata:\n"
            "  name: waypoint\n"
            "  namespace: default\n"
            "  labels:\n"
            "    istio.io/waypoint-for: service\n"
            "spec:\n"
            "  gatewayClassName: istio-waypoint\n"
            "  listeners:\n"
            "  - name: mesh\n"
            "    port: 15008\n"
            "    protocol: HBONE\n"
            "'''\n"
            "print(lab.apply(WAYPOINT))\n"
            "print('warnings:', lab.warnings or 'none')\n"
            "r = lab.request('client', PAGE)\n"
            "hops = call_to(r.path, 'reviews-')\n"
            "print('productpage -> reviews:', ' -> '.join(h.role for h in hops))\n"
            "print('productpage -> details:', ' -> '.join(h.role for h in call_to(r.path, 'details-')))"
        ),
        md(
            "Only reviews opted in, so only calls to reviews take the extra hop: app → ztunnel → **waypoint** → "
            "ztunnel → app. The map shows the waypoint as a pod of its own; the waterfall shows each hop's time "
            "(measured) and, outlined, the hops reached over mutual TLS with the identity each one saw."
        ),
        code(
            "topology_figure(lab.topology, lab.mesh, r.path, title='reviews behind a waypoint: one page request')"
        ),
        code("path_figure(r.path, title=f'one page: {r.status} in {r.latency_ms:.1f} ms (measured)')"),
        md(
            "## 4. Who is calling reviews now?\n\nThe waypoint ends the HBONE tunnel from productpage's ztunnel, "
            "handles the HTTP request, and opens a tunnel of its own to the reviews pod's ztunnel — with its own "
            "certificate.\n\n### Predict, then run\n\nWhich SPIFFE identity does the ztunnel in front of the "
            "reviews pod see on this call?"
        ),
        code(
            "my_q3 = None   # a SPIFFE id, e.g. 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage'"
        ),
        code(
            "show(hops)\n"
            "seen_by_reviews = hops[-2].identity      # the hop before the reviews app: its ztunnel, inbound"
        ),
        code(
            "check('q3', my_q3, seen_by_reviews,\n"
            "      \"Behind a waypoint the destination sees the waypoint's identity, not productpage's: the waypoint is \"\n"
            "      \"the one that connected. The waypoint saw productpage's identity, so that is where policies about \"\n"
            "      \"productpage belong. An L4 policy on the reviews pods (enforced by their ztunnel) that allows only \"\n"
            "      \"sa/bookinfo-productpage would now shut the waypoint out: Istio's ambient guide adds \"\n"
            "      \"cluster.local/ns/default/sa/waypoint to such policies.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nmTLS proves who is at the *other end of this connection*. Which "
            "proxy opened the connection that arrives at the reviews pod's ztunnel?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\n`spiffe://cluster.local/ns/default/sa/waypoint` — the "
            "waypoint runs as its own service account (named after the Gateway) in the service's namespace.\n"
            "</details>"
        ),
        md(
            "## 5. Now the routing rule takes effect\n\nThe VirtualService from section 2 is still in force; "
            "nothing was re-applied. Load the page again:"
        ),
        code(
            "after = lab.load(requests=60, concurrency=2, progress=False)\n"
            "print('pages served by:', served_by(after))\n"
            "print(lab.apply(ALL_V3), '- warnings now:', lab.warnings or 'none')"
        ),
        md(
            "### Predict, then run\n\nThe traffic-shifting task's first step: half of reviews' traffic to v1, half "
            "to v3 (`weight: 50` each). Out of 100 page loads, how many will reviews-v3 serve?"
        ),
        code("my_q4 = None   # a number from 0 to 100"),
        code(
            "HALF_V3 = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: reviews}\n"
            "spec:\n"
            "  hosts: [reviews]\n"
            "  http:\n"
            "  - route:\n"
            "    - destination: {host: reviews, subset: v1}\n"
            "      weight: 50\n"
            "    - destination: {host: reviews, subset: v3}\n"
            "      weight: 50\n"
            "'''\n"
            "print(lab.apply(HALF_V3))\n"
            "split = lab.load(requests=100, concurrency=2, progress=False)\n"
            "print('pages served by:', served_by(split))"
        ),
        code(
            "n3 = served_by(split).get('reviews-v3-0', 0)\n"
            "check('q4', my_q4, n3,\n"
            "      'The waypoint picks a route by weight for every request: 50 on average. 100 pages are 100 coin '\n"
            "      'tosses, so anything from about 40 to 60 is usual (two standard deviations is 10 either side).',\n"
            "      ok=lambda a: abs(a - n3) <= 15)"
        ),
        md(
            "<details><summary>Solution</summary>\n\nAbout 50, give or take 10. Istio's task page warns that you "
            "\"may need to refresh 15 or more times\" to see the change in a browser for the same reason.\n"
            "</details>\n\nThis lab's part is done: stop it before starting the next one (each lab is a dozen "
            "processes)."
        ),
        code("lab.stop()"),
        md(
            "## 6. L7 authorization: selector or targetRefs?\n\nA fresh Bookinfo, with reviews' waypoint from the "
            "start (`waypoints=['reviews']` deploys the same Gateway and label as section 3).\n\n"
            "ztunnel checks authorization when a connection opens and, as Istio's does, checks the open "
            "connections again when a policy changes, closing those no longer allowed (istio/ztunnel#772) — so a "
            "policy applied below also cuts connections the waypoint keeps open to the reviews pods."
        ),
        code("lab = Lab('bookinfo', mode='ambient', waypoints=['reviews'], verbose=False).start()"),
        md(
            "Istio's *Authorization for HTTP traffic* task lets reviews be read with GET only (its `reviews-viewer` "
            "also names productpage's principal; we leave that out). Here it is bound as that sidecar-mode task "
            "binds it — to the reviews pods, by a `selector`:"
        ),
        code(
            "REVIEWS_GET_ONLY = '''\\\n"
            "apiVersion: security.istio.io/v1\n"
            "kind: AuthorizationPolicy\n"
            "metadata:\n"
            "  name: reviews-viewer\n"
            "  namespace: default\n"
            "spec:\n"
            "  selector:\n"
            "    matchLabels:\n"
            "      app: reviews\n"
            "  action: ALLOW\n"
            "  rules:\n"
            "  - to:\n"
            "    - operation:\n"
            "        methods: [GET]\n"
            "'''"
        ),
        md(
            "### Predict, then run\n\nproductpage calls reviews with GET. With this policy applied, does the page "
            "still show the reviews?"
        ),
        code("my_q5 = None   # 'allowed' or 'denied'"),
        code(
            "print(lab.apply(REVIEWS_GET_ONLY))\n"
            "for w in lab.warnings:\n"
            "    print('warning:', w)\n"
            "r = lab.request('client', PAGE)\n"
            "print('page:', r.status, '- reviews missing' if NO_REVIEWS in r.body else '- reviews shown')\n"
            "denied = [h for h in r.path.hops if h.decision == 'deny']\n"
            "print(len(denied), 'connections to reviews pods refused, by', dict(Counter(f'{h.name} ({h.role}, {h.layer})' for h in denied)))\n"
            "print('why:', denied[0].error if denied else '-')"
        ),
        code(
            "check('q5', my_q5, 'denied' if NO_REVIEWS in r.body else 'allowed',\n"
            "      \"A selector binds a policy to the workload, and in ambient mode the workload's ztunnel enforces it — \"\n"
            "      \"even when the service has a waypoint. ztunnel cannot see methods, so istiod drops the rule that \"\n"
            "      \"uses one, and an ALLOW policy with no rule left allows nothing: it fails closed. Istio writes the \"\n"
            "      \"warning above into the policy's status. (Each refusal is a failed connection, which the waypoint's \"\n"
            "      \"default route retries twice, on other pods if it can — Istio's default retry policy, as on a \"\n"
            "      \"sidecar's outbound route (since Istio 1.31; from 1.24 to 1.30 a waypoint retried only resets before \"\n"
            "      \"the request, to any pod); productpage's own code retried once, then gave up.)\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWho enforces a policy with a `selector` in ambient mode? What can "
            "that proxy see of a request?\n</details>"
        ),
        md(
            "### The fix: target the Service, so the waypoint enforces it\n\n`targetRefs` binds a policy to a "
            "Service (or to the waypoint Gateway itself), and the waypoint — which parses HTTP — enforces it. "
            "Delete the selector policy and apply the same rule with `targetRefs`:"
        ),
        code(
            "REVIEWS_GET_ONLY_AT_WAYPOINT = '''\\\n"
            "apiVersion: security.istio.io/v1\n"
            "kind: AuthorizationPolicy\n"
            "metadata:\n"
            "  name: reviews-viewer\n"
            "  namespace: default\n"
            "spec:\n"
            "  targetRefs:\n"
            "  - kind: Service\n"
            "    group: \"\"\n"
            "    name: reviews\n"
            "  action: ALLOW\n"
            "  rules:\n"
            "  - to:\n"
            "    - operation:\n"
            "        methods: [GET]\n"
            "'''\n"
            "print(lab.delete(REVIEWS_GET_ONLY))\n"
            "print(lab.apply(REVIEWS_GET_ONLY_AT_WAYPOINT))\n"
            "print('warnings:', lab.warnings or 'none')\n"
            "r = lab.request('client', PAGE)\n"
            "print('page:', r.status, '- reviews missing' if NO_REVIEWS in r.body else '- reviews shown')"
        ),
        md(
            "### Predict, then run\n\nNow the productpage pod sends a **POST** to reviews (Bookinfo never does; "
            "anyone in the mesh could try). What status does it get, and what role has the proxy that says no?"
        ),
        code("my_q6 = None   # (status, role), e.g. (200, 'ztunnel')"),
        code(
            "post = lab.request('productpage-v1', 'http://reviews:9080/reviews/0', method='POST')\n"
            "print(post)\n"
            "print('body:', post.body)\n"
            "decider = next((h for h in post.path.hops if h.decision == 'deny'), None)"
        ),
        code(
            "check('q6', None if my_q6 is None else tuple(my_q6), (post.status, decider.role if decider else None),\n"
            "      \"The waypoint parses the request, sees POST, and answers 403 'RBAC: access denied' itself: the \"\n"
            "      \"request never reaches the reviews pods. GET still passes, as the page above shows.\")"
        ),
        md(
            "<details><summary>Solution</summary>\n\n`(403, 'waypoint')`. An L7 denial is an HTTP answer "
            "(`403 RBAC: access denied`) from the proxy that parsed the request; an L4 denial is a refused "
            "connection (a reset).\n</details>\n\n"
            "<details><summary>And a DENY policy with HTTP fields, bound by selector?</summary>\n\nztunnel "
            "enforces it *without* its HTTP fields, so it denies more than it says. Istio's status message: "
            "\"DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive "
            "than requested.\" If nothing is left once the HTTP fields are gone, the policy has no effect at all. "
            "Either way the fix is the same: `targetRefs` and a waypoint.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 7. Your task: one user gets another version of reviews\n\nIstio's *request routing* task sends the "
            "signed-in user **jason** to reviews **v2**, everyone else to **v1**. Here each learner gets a user and "
            "a version of their own (set `MESHLAB_LEARNER`, or JupyterHub's user name; with neither, Istio's jason "
            "and v2): the goal below names yours. productpage forwards an `end-user` "
            "header for a signed-in user. Below is the skeleton: copy it into `answer`, fill in every `___`, and run "
            "the check. The check applies your YAML to the running lab (reviews has its waypoint, as in section 3), "
            "loads the page 20 times as your user and 20 times as nobody, and reads off each request's path which "
            "reviews pod served it. A blank or wrong answer fails and says what went wrong; your attempts are "
            "recorded in `meshlab-progress.jsonl` beside this notebook.\n\n"
            "The lab here is `bookinfo-versions`, with a Service per reviews version, so you may instead answer "
            "with a Gateway API `HTTPRoute` (`apiVersion: gateway.networking.k8s.io/v1`), as Istio's ambient "
            "docs route: `parentRefs` naming the Service `reviews` (`group: \"\"`, `kind: Service`, `port: 9080`), "
            "one rule whose `matches` hold a `headers` match on your user and whose `backendRefs` name your version's "
            "Service, and a rule with no match for `reviews-v1`."
        ),
        *task_cells(
            "02-waypoints",
            "jason-to-reviews-v2",
            "lab = Lab('bookinfo-versions', mode='ambient', waypoints=['reviews'], verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nThe match is on a request header; its name is the one "
            "productpage forwards. The first route is your user's; the second, with no match, is everyone else's.\n"
            "</details>\n\n<details><summary>Solution</summary>\n\n`end-user`, your user, your version, `v1` "
            "(for jason and v2, Istio's `virtual-service-reviews-test-v2.yaml`). In ambient mode it works because reviews has a waypoint; "
            "without one the check fails and says so. As an HTTPRoute (Istio's ambient docs use one, with the same "
            "`parentRefs`):\n\n```yaml\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
            "metadata: {name: reviews}\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: reviews, port: 9080}\n"
            "  rules:\n  - matches:\n    - headers:\n      - {name: end-user, value: jason}\n"
            "    backendRefs:\n    - {name: reviews-v2, port: 9080}\n  - backendRefs:\n"
            "    - {name: reviews-v1, port: 9080}\n```\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 8. Your task: only one caller, through the waypoint\n\nNotebook 03 asks for such a rule without a "
            "waypoint: an `AuthorizationPolicy` whose `selector` picks the service's pods, enforced by their "
            "ztunnel on the identity mutual TLS proved. Here the service has a waypoint (the task's first cell gives "
            "it one), and section 3 showed what the ztunnel in front of the pods then sees: the *waypoint's* "
            "identity, for every caller. The goal names your service and its one allowed caller (Istio's example, "
            "and the default: only productpage may call reviews). Bind the policy where the caller's identity is "
            "still seen. The check applies your YAML, loads the page 10 times (it must stay whole) and calls the "
            "service directly from the client pod (service account `curl`), which must be refused."
        ),
        *task_cells(
            "02-waypoints",
            "only-one-caller-through-the-waypoint",
            "lab = Lab('bookinfo', mode='ambient', waypoints=['reviews'], verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nSection 6: a policy for a waypoint names its target, the Service, "
            "with `targetRefs` (group `\"\"`, the core API). A principal is the SPIFFE ID without `spiffe://`: "
            "`cluster.local/ns/default/sa/<the caller's service account>`.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nFor reviews: `Service`, `reviews`, `ALLOW`, "
            "`cluster.local/ns/default/sa/bookinfo-productpage` (for ratings, `ratings` and `bookinfo-reviews`). The "
            "waypoint sees the caller's identity and lets it through; the client's direct call gets the waypoint's "
            "403. With a `selector` instead, the ztunnel in front of the pods sees only the waypoint's identity, so "
            "it refuses the real caller too and the page loses what the service gives it.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- In ambient mode, ztunnel does L4 only: a VirtualService for a service with no waypoint is accepted "
            "and does nothing, and the lab says so.\n"
            "- A waypoint is a Gateway (`gatewayClassName: istio-waypoint`) plus the `istio.io/use-waypoint` label; "
            "a label naming a waypoint that does not exist is not followed.\n"
            "- Behind a waypoint, calls take one more hop (app → ztunnel → waypoint → ztunnel → app), and the "
            "destination sees the **waypoint's** identity.\n"
            "- L7 authorization in ambient mode belongs on the waypoint (`targetRefs`). A `selector` binds a policy "
            "to ztunnel, which cannot see HTTP: an ALLOW with HTTP fields then denies everything.\n\n"
            + next_link(NAME, "who may connect at all")
        ),
    ]
