"""Notebook 07-authorization: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "07-authorization"
TITLE = "07 authorization, L4 and L7"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 07 · Authorization, L4 and L7\n\n"
            "**Goal:** decide who may call a service, and with what, using Istio's `AuthorizationPolicy` — and learn "
            "*which proxy* enforces each policy, because that decides what it can see. In ambient mode ztunnel checks "
            "the caller's mTLS identity when a connection opens (L4) and refuses with a reset; a waypoint parses HTTP "
            "and can check methods and paths (L7), refusing with a 403. You will see a waypoint change the identity "
            "the destination sees, bind HTTP rules to the waypoint with `targetRefs`, meet what ztunnel does with "
            "HTTP rules it cannot see, watch a DENY win over an ALLOW, and move the same policies to sidecar mode. "
            "Every status in the tables below is what a real request got in this run.\n\n" + nav(NAME)
        ),
        md(
            "## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `who_gets_in` "
            "sends requests from several pods to reviews and shows, for each, the outcome, which proxy refused it "
            "(at which layer) and the identity that proxy saw; `policy` writes a short AuthorizationPolicy in "
            "namespace `default`."
        ),
        code(
            "from IPython.display import display\n"
            "from meshlab import Lab\n"
            "from meshlab.tables import Table\n"
            "from meshlab.viz import path_figure\n"
            "SA = 'cluster.local/ns/default/sa/'     # a principal is the SPIFFE ID without spiffe://\n"
            "PAGE = 'http://productpage:9080/productpage'\n\n" + check_setup(NAME) + "\n\n"
            "def who_gets_in(calls, service='reviews'):\n"
            "    \"\"\"Send each (pod, method) or (pod, method, path) to service; show who was refused, by which\n"
            "    proxy, and the identity it saw. Returns {(pod, method[, path]): status, or the error}.\"\"\"\n"
            "    rows, out = [], {}\n"
            "    for call in calls:\n"
            "        pod, method, path = (*call, f'/{service}/0')[:3]\n"
            "        r = lab.request(pod, f'http://{service}:9080{path}', method=method, timeout=5)\n"
            "        hop = next((h for h in r.path.hops if h.decision == 'deny'), None) if r.path else None\n"
            "        out[call] = r.status if r.status is not None else r.error\n"
            "        rows.append((pod, f'{method} {path}', out[call], f'{hop.name} ({hop.role}, {hop.layer})' if hop else '-',\n"
            "                     (hop.identity or 'none (plaintext)').removeprefix('spiffe://') if hop else '-'))\n"
            "    display(Table(('from pod', 'request', 'outcome', 'refused by', 'identity it saw'), rows))\n"
            "    return out\n\n\n"
            "def policy(name, bind, action, rules=None):\n"
            "    \"\"\"An AuthorizationPolicy in default: bind is 'selector' (the reviews pods) or 'targetRefs' (the\n"
            "    reviews Service, at its waypoint); rules a YAML flow list, e.g. '[{to: [{operation: {methods: [GET]}}]}]'.\"\"\"\n"
            "    where = ('  selector:\\n    matchLabels: {app: reviews}\\n' if bind == 'selector' else\n"
            "             '  targetRefs:\\n  - {kind: Service, group: \"\", name: reviews}\\n')\n"
            "    return (f'apiVersion: security.istio.io/v1\\nkind: AuthorizationPolicy\\nmetadata: {{name: {name}, namespace: default}}\\n'\n"
            "            f'spec:\\n{where}  action: {action}\\n' + (f'  rules: {rules}\\n' if rules else ''))"
        ),
        md(
            "## 1. An L4 policy, enforced by ztunnel\n\nBookinfo in ambient mode, no waypoint. Istio's ambient "
            "getting-started guide starts with a policy like this one: bound to the reviews pods by a `selector`, it "
            "lets in only callers that prove the identity `bookinfo-productpage` over mutual TLS. It uses no HTTP "
            "field, so ztunnel can enforce it — at the **destination** node: \"The actual enforcement point is at the "
            "receiving (server-side) ztunnel\" ([L4 policy](https://istio.io/latest/docs/ambient/usage/l4-policy/))."
        ),
        code(
            "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"
            "ONLY_PRODUCTPAGE_L4 = f'''\\\n"
            "apiVersion: security.istio.io/v1\n"
            "kind: AuthorizationPolicy\n"
            "metadata: {{name: reviews-l4, namespace: default}}\n"
            "spec:\n"
            "  selector:\n"
            "    matchLabels: {{app: reviews}}\n"
            "  action: ALLOW\n"
            "  rules:\n"
            "  - from:\n"
            "    - source:\n"
            "        principals: [{SA}bookinfo-productpage]\n"
            "'''\n"
            "print(lab.apply(ONLY_PRODUCTPAGE_L4))"
        ),
        md(
            "### Predict, then run\n\nThe client pod (service account `curl`) sends `GET /reviews/0` to reviews. "
            "What does it get?\n\n- **a** a 403 `RBAC: access denied`\n- **b** its connection reset, no HTTP answer "
            "at all\n- **c** 200: the policy names no method"
        ),
        code("my_q1 = None   # 'a', 'b' or 'c'"),
        code("l4 = who_gets_in([('productpage-v1', 'GET'), ('productpage-v1', 'POST'), ('client', 'GET')])"),
        code(
            "got = l4[('client', 'GET')]\n"
            "check('q1', my_q1, 'a' if got == 403 else 'b' if got == 'connection reset' else 'c',\n"
            "      \"ztunnel checks the identity mutual TLS proved when the connection opens, and it never parses HTTP: \"\n"
            "      \"it has no HTTP answer to give, so it resets the connection (curl says exit code 56). For the same \"\n"
            "      \"reason productpage's POST passes: at L4 a GET and a POST look the same.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhich proxy is in front of the reviews pods in ambient mode without a "
            "waypoint, and at which layer does it work?\n</details>\n\n<details><summary>Solution</summary>\n\n**b**. "
            "Istio: an L4 denial is a TCP reset (`command terminated with exit code 56` in the getting-started guide); "
            "an L7 denial is an HTTP 403 `RBAC: access denied` from Envoy. The table shows who refused: the ztunnel "
            "of the reviews pod's node, inbound, which saw `sa/curl`.\n</details>"
        ),
        md(
            "## 2. A waypoint changes who is calling\n\nNow give reviews a waypoint (`set_waypoints` deploys the "
            "waypoint Gateway and labels the Service, as in notebook 02). The L4 policy stays as it is.\n\n"
            "### Predict, then run\n\nDoes productpage's `GET` still reach reviews?"
        ),
        code("my_q2 = None   # True or False"),
        code(
            "lab.set_waypoints(['reviews'])\n"
            "l4_wp = who_gets_in([('productpage-v1', 'GET'), ('client', 'GET')])"
        ),
        code(
            "check('q2', my_q2, l4_wp[('productpage-v1', 'GET')] == 200,\n"
            "      \"The waypoint ends productpage's tunnel and opens its own to the reviews pods, with its own \"\n"
            "      \"certificate: their ztunnel now sees sa/waypoint for every caller (the table's last column), and \"\n"
            "      \"the policy allows only productpage. reviews' ztunnel refuses the waypoint's HBONE CONNECT (HTTP 401 \"\n"
            "      \"on the stream, as ztunnel's inbound answers a failed authorization), and the waypoint answers 503 \"\n"
            "      \"(Envoy's 'upstream connect error'). Istio: 'Waypoint proxies do not impersonate the identity of the \"\n"
            "      \"source workload' (https://istio.io/latest/docs/ambient/usage/l4-policy/).\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nmTLS proves who is at the other end *of this connection*. Who opens "
            "the connection that arrives at the reviews pods now?\n</details>\n\n<details><summary>Solution</summary>"
            "\n\n`False`. Istio's ambient guide adds `cluster.local/ns/default/sa/waypoint` to the ztunnel policy "
            "([enforce authorization policies](https://istio.io/latest/docs/ambient/getting-started/enforce-auth-policies/)); "
            "the check on productpage moves to the waypoint, which still sees productpage's identity.\n</details>"
        ),
        md(
            "### The fix: two layers\n\nThe L4 policy now admits only the **waypoint**; the real check — only "
            "productpage — moves to the waypoint, bound with `targetRefs` to the reviews Service. Waypoints take "
            "*only* `targetRefs` policies: \"Waypoint proxies are required to use this field for policies to apply; "
            "`selector` policies will be ignored\" ([AuthorizationPolicy reference]"
            "(https://istio.io/latest/docs/reference/config/security/authorization-policy/))."
        ),
        code(
            "WAYPOINT_ONLY_L4 = ONLY_PRODUCTPAGE_L4.replace('bookinfo-productpage', 'waypoint')\n"
            "ONLY_PRODUCTPAGE_L7 = policy('reviews-viewer', 'targetRefs', 'ALLOW',\n"
            "                             f'[{{from: [{{source: {{principals: [{SA}bookinfo-productpage]}}}}]}}]')\n"
            "print(ONLY_PRODUCTPAGE_L7)\n"
            "print(lab.apply([WAYPOINT_ONLY_L4, ONLY_PRODUCTPAGE_L7]))\n"
            "two_layers = who_gets_in([('productpage-v1', 'GET'), ('productpage-v1', 'POST'), ('client', 'GET')])"
        ),
        md(
            "productpage gets in, the client gets a **403 from the waypoint** (L7, it saw `sa/curl`). Why keep the L4 "
            "policy at all? A waypoint for services (`istio.io/waypoint-for: service`, the default) is on the path "
            "only of traffic addressed to the *Service*: Istio chooses the waypoint by the original address "
            "([waypoint](https://istio.io/latest/docs/ambient/usage/waypoint/)), so a client that sends to a pod's IP "
            "skips it (a waypoint for `workload` or `all` would catch that too); and when the waypoint is missing, "
            "ztunnel sends the traffic straight to the destination. Istio's docs therefore advise a ztunnel policy "
            "that admits only the waypoint's identity ([L7 features](https://istio.io/latest/docs/ambient/usage/"
            "l7-features/)). The client tries a reviews pod's IP:"
        ),
        code(
            "bypass = lab.request('client', f\"http://{lab.pod_ip('reviews-v1')}:9080/reviews/0\", timeout=5)\n"
            "hop = next(h for h in bypass.path.hops if h.decision == 'deny')\n"
            "print(f\"to the pod's IP: {bypass.status or bypass.error}, refused by {hop.name} ({hop.role}, {hop.layer}), \"\n"
            "      f\"which saw {hop.identity}\")\n"
            "print('path:', ' -> '.join(f'{h.name} ({h.role})' for h in bypass.path.hops))"
        ),
        md(
            "No waypoint on that path, and the reviews pod's ztunnel refuses it: `sa/curl` is not the waypoint."
        ),
        md(
            "## 3. HTTP rules at the waypoint\n\nThe waypoint parses every request, so its policy can name methods "
            "and paths. Istio's *Authorization for HTTP traffic* task lets productpage read reviews with `GET` only "
            "(its `reviews-viewer`, bound by selector for sidecars; here by `targetRefs`, for the waypoint). We add "
            "a path too: only `/reviews/*`."
        ),
        code(
            "GET_ONLY = policy('reviews-viewer', 'targetRefs', 'ALLOW',\n"
            "                  f'[{{from: [{{source: {{principals: [{SA}bookinfo-productpage]}}}}], '\n"
            "                  f\"to: [{{operation: {{methods: [GET], paths: ['/reviews/*']}}}}]}}]\")\n"
            "print(GET_ONLY)\n"
            "print(lab.apply(GET_ONLY))      # same name: replaces reviews-viewer\n"
            "CALLS = [('productpage-v1', 'GET'), ('productpage-v1', 'POST'), ('productpage-v1', 'GET', '/health'),\n"
            "         ('client', 'GET'), ('client', 'POST')]"
        ),
        md(
            "### Predict, then run\n\nOf the five requests in `CALLS` — productpage's GET and POST to `/reviews/0`, "
            "its GET to `/health`, the client's GET and POST — which are **not** refused by a proxy? Give a set "
            "of the entries of `CALLS`."
        ),
        code("my_q3 = None   # a set of entries of CALLS, e.g. {('client', 'GET')}"),
        code(
            "l7 = who_gets_in(CALLS)\n"
            "passed = {c for c, got in l7.items() if got not in (403, 'connection reset')}"
        ),
        code(
            "check('q3', None if my_q3 is None else set(my_q3), passed,\n"
            "      \"Only productpage's GET to a /reviews/ path matches the rule: from, and both operation fields, must \"\n"
            "      \"match (a rule's fields are ANDed; a field matches if one of its values does). POST, /health and the \"\n"
            "      \"client each miss one, and an ALLOW policy is in force, so the waypoint denies them: 403, with the \"\n"
            "      \"caller's real identity in the table.\")"
        ),
        md(
            "The client's POST, hop by hop: its node's ztunnel hands it to the waypoint over HBONE, and the waypoint "
            "answers 403 itself — the reviews pods never see it (measured)."
        ),
        code(
            "r = lab.request('client', 'http://reviews:9080/reviews/0', method='POST', timeout=5)\n"
            "path_figure(r.path, title=f'the client POSTs to reviews: {r.status or r.error}, refused at the waypoint')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA request is allowed when one rule matches: its `from` *and* its `to` "
            "(and within the operation, the method *and* the path).\n</details>\n\n<details><summary>Solution</summary>"
            "\n\n`{('productpage-v1', 'GET')}`. (`/health` is refused by the waypoint before the reviews app could say "
            "whether it has such a path.)\n</details>"
        ),
        md(
            "## 4. The selector pitfall: HTTP rules bound to ztunnel\n\nWhat if the same HTTP rules are bound by "
            "`selector`, as the sidecar-mode task does? In ambient mode a selector binds a policy to the pods' "
            "**ztunnel** (and the waypoint ignores it). ztunnel cannot see methods or paths, and istiod converts the "
            "policy for it ([`pilot/pkg/serviceregistry/ambient/authorization.go`]"
            "(https://github.com/istio/istio/blob/master/pilot/pkg/serviceregistry/ambient/authorization.go)):\n\n"
            "- **ALLOW**: the rules with HTTP fields are dropped — the policy still counts as an ALLOW and now "
            "allows less, typically nothing: \"ztunnel proxy will simply drop all traffic as a defensive move\" "
            "(L4 policy page). Notebook 02, section 6, showed this.\n"
            "- **DENY**: the HTTP fields are dropped from the rules, and a source or operation left empty matches "
            "nothing. A DENY with only HTTP fields then has **no effect**; one that also names a port denies **the "
            "whole port**.\n\n"
            "Istio writes the reason into the policy's status; the lab prints the same text as a warning. A clean "
            "start (the waypoint stays):"
        ),
        code(
            "print(lab.delete(all=True))\n"
            "NO_POST_BY_SELECTOR = policy('no-post', 'selector', 'DENY', '[{to: [{operation: {methods: [POST]}}]}]')\n"
            "print(NO_POST_BY_SELECTOR)"
        ),
        md(
            "### Predict, then run\n\nWith this DENY applied, does the client's `POST` to reviews get through?"
        ),
        code("my_q4 = None   # True or False"),
        code(
            "print(lab.apply(NO_POST_BY_SELECTOR))\n"
            "for w in lab.warnings:\n"
            "    print('warning:', w)\n"
            "deny_sel = who_gets_in([('client', 'POST'), ('client', 'GET')])"
        ),
        code(
            "check('q4', my_q4, deny_sel[('client', 'POST')] == 200,\n"
            "      \"Bound by selector, the policy goes to ztunnel, not to the waypoint. Without its method the DENY has \"\n"
            "      \"nothing left to match: istiod sends it to ztunnel with an empty match, which ztunnel skips, and the \"\n"
            "      \"policy's status says it 'has no enforceable rules at ztunnel and will have no effect' (here: the \"\n"
            "      \"lab's warning). The POST you meant to forbid passes (pilot/pkg/serviceregistry/ambient/\"\n"
            "      \"authorization.go; istio/istio#61126).\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhat is left of `methods: [POST]` when the proxy that enforces it "
            "cannot see methods?\n</details>\n\n<details><summary>Solution</summary>\n\n`True`: a security hole, not "
            "an error. Now the same DENY with a port as well — the usual way of writing \"no POST on 9080\":\n"
            "</details>"
        ),
        code(
            "NO_POST_9080 = policy('no-post', 'selector', 'DENY', \"[{to: [{operation: {methods: [POST], ports: ['9080']}}]}]\")\n"
            "print(lab.apply(NO_POST_9080))\n"
            "for w in lab.warnings:\n"
            "    print('warning:', w)\n"
            "deny_port = who_gets_in([('productpage-v1', 'GET'), ('client', 'POST')])"
        ),
        md(
            "Everything on port 9080 is denied at ztunnel — even productpage's GET, whose connection from the "
            "waypoint is reset (the waypoint answers 503). \"More restrictive than requested\", as the warning says. "
            "Either way the fix is `targetRefs`: the waypoint enforces the rule as written."
        ),
        md(
            "## 5. DENY is evaluated before ALLOW\n\nIstio evaluates a request against the policies bound to its "
            "enforcement point in a fixed order ([AuthorizationPolicy reference]"
            "(https://istio.io/latest/docs/reference/config/security/authorization-policy/), "
            "[security concepts](https://istio.io/latest/docs/concepts/security/)):\n\n"
            "1. a matching **CUSTOM** policy that says deny → deny;\n"
            "2. any matching **DENY** → deny;\n"
            "3. no **ALLOW** policy at all → allow;\n"
            "4. any matching ALLOW → allow;\n"
            "5. otherwise deny.\n\n"
            "**AUDIT** policies only mark requests for auditing and never change the decision. (The lab does not "
            "run CUSTOM, an external authorizer: it refuses such policies.) A clean start, then two policies at the "
            "waypoint: an ALLOW for productpage *and* the client, and a DENY for anyone who is not productpage "
            "(`notPrincipals`)."
        ),
        code(
            "print(lab.delete(all=True))\n"
            "CALLERS = policy('reviews-callers', 'targetRefs', 'ALLOW',\n"
            "                 f'[{{from: [{{source: {{principals: [{SA}bookinfo-productpage, {SA}curl]}}}}]}}]')\n"
            "NOT_PRODUCTPAGE = policy('only-productpage', 'targetRefs', 'DENY',\n"
            "                         f'[{{from: [{{source: {{notPrincipals: [{SA}bookinfo-productpage]}}}}]}}]')\n"
            "print(CALLERS, NOT_PRODUCTPAGE, sep='---\\n')\n"
            "print(lab.apply([CALLERS, NOT_PRODUCTPAGE]))"
        ),
        md("### Predict, then run\n\nThe client's `GET` matches the ALLOW *and* the DENY. What does it get?"),
        code("my_q5 = None   # a status, e.g. 200"),
        code("both = who_gets_in([('productpage-v1', 'GET'), ('client', 'GET')])"),
        code(
            "check('q5', my_q5, both[('client', 'GET')],\n"
            "      \"DENY comes first: a matching DENY denies, whatever the ALLOWs say. Istio's Explicit Deny task: the \"\n"
            "      \"DENY action 'has higher priority and will not be bypassed by any ALLOW actions'. The order of the \"\n"
            "      \"policies, their names or which was applied first play no part.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nGo down the list above: which step does the client's request stop "
            "at?\n</details>\n\n<details><summary>Solution</summary>\n\n403, from the waypoint: step 2. "
            "([Explicit deny](https://istio.io/latest/docs/tasks/security/authorization/authz-deny/))\n</details>"
        ),
        md(
            "## 6. The same policies in sidecar mode\n\nRemove the waypoint and move the lab to sidecar mode, with "
            "both policies still in force (the lab restarts the pods to get their sidecars; in Istio the label "
            "alone restarts nothing: injection happens when you recreate them, `kubectl rollout restart`).\n\n### Predict, then run\n\nWhat does the client's `GET` to reviews get now?"
        ),
        code("my_q6 = None   # a status, e.g. 200"),
        code(
            "lab.set_waypoints(None)\n"
            "lab.set_mode('sidecar')\n"
            "sidecars = who_gets_in([('productpage-v1', 'GET'), ('client', 'GET')])"
        ),
        code(
            "check('q6', my_q6, sidecars[('client', 'GET')],\n"
            "      \"Both policies target the reviews Service, and Istio's reference says of that attachment: 'This type \"\n"
            "      \"is only supported for waypoints.' Sidecars ignore them, so no policy is in force at all, and \"\n"
            "      \"everything is allowed. Policies written for ambient waypoints do not carry over to sidecars.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhich kinds of binding does a sidecar read: `selector`, "
            "`targetRefs`, or both?\n</details>\n\n<details><summary>Solution</summary>\n\n200. In sidecar mode a "
            "policy is bound by `selector` (or to the whole namespace), and the **server's** sidecar enforces it at L7 "
            "— everything, HTTP fields included. The same DENY by selector:\n</details>"
        ),
        code(
            "NOT_PRODUCTPAGE_SEL = policy('only-productpage', 'selector', 'DENY',\n"
            "                             f'[{{from: [{{source: {{notPrincipals: [{SA}bookinfo-productpage]}}}}]}}]')\n"
            "print(lab.apply(NOT_PRODUCTPAGE_SEL))\n"
            "by_sidecar = who_gets_in([('productpage-v1', 'GET'), ('client', 'GET'), ('client', 'POST')])"
        ),
        md(
            "A 403 from the reviews pod's own sidecar (the server side). Back to ambient mode with the same policy: "
            "it uses only an identity, so ztunnel can enforce it — as a reset."
        ),
        code(
            "lab.set_mode('ambient')\n"
            "by_ztunnel = who_gets_in([('productpage-v1', 'GET'), ('client', 'GET')])"
        ),
        md(
            "One policy, three outcomes by mode and binding: a 403 from the server's sidecar, a reset from the "
            "destination's ztunnel, or — bound by `targetRefs` in sidecar mode — nothing at all. (Istio adds one "
            "more case this notebook does not show: traffic *from* a sidecar to a service with a waypoint skips the "
            "waypoint, \"traffic from sidecars and gateways won't go through any waypoint proxy\" — "
            "[data plane](https://istio.io/latest/docs/ambient/architecture/data-plane/).)"
        ),
        code("lab.stop()"),
        md(
            "## 7. Your task: read-only, through the waypoint\n\nThe goal below names your service, its one caller "
            "and a method that caller must not use (set `MESHLAB_LEARNER`, or JupyterHub's user name, to get your "
            "own; with neither, Istio's example: productpage reads reviews). The task's first cell gives the "
            "service a waypoint. Copy the skeleton into `answer`, fill in every `___`, and run the check: it loads "
            "the page 6 times (it must stay whole), sends your method from the caller's pod and a GET from the "
            "client pod, and reads off each path who refused it."
        ),
        *task_cells(
            NAME,
            "read-only-through-the-waypoint",
            "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nSection 3: a waypoint policy names the Service in `targetRefs` "
            "(group `\"\"`, the core API). One rule with a `from` (the caller's principal) and a `to` (the one method "
            "allowed).\n</details>\n\n<details><summary>Solution</summary>\n\nFor reviews: `Service`, `reviews`, "
            "`cluster.local/ns/default/sa/bookinfo-productpage`, `GET` (for ratings: `ratings` and "
            "`bookinfo-reviews`; for details: `details` and `bookinfo-productpage`). Listing your forbidden method "
            "next to GET lets it through: an ALLOW lets in exactly what it lists.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 8. Your task: a DENY that wins over an ALLOW\n\nThe task's first cell gives reviews a waypoint and "
            "applies section 5's ALLOW policy `reviews-callers` (productpage and the client, any method). Leave it "
            "as it is: add a policy that refuses your method to everyone. The check loads the page 6 times, sends "
            "your method from productpage and from the client, a GET from the client, and checks that "
            "`reviews-callers` is still in force, unchanged."
        ),
        *task_cells(
            NAME, "deny-wins-over-allow", "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nSection 5's list: which action is evaluated before any ALLOW? A "
            "rule with only a `to` applies to every caller.\n</details>\n\n<details><summary>Solution</summary>\n\n"
            "`DENY` and your method (`POST` for the default). A second ALLOW for the other methods changes nothing: "
            "the request already matches reviews-callers, and one matching ALLOW is enough.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 9. Your task: no writes, in both data planes\n\nSection 6 showed that sidecars and waypoints read "
            "different bindings. A mesh moving from sidecars to ambient has both for a while, so a rule must be "
            "written for both (Istio's [policy migration guide](https://istio.io/latest/docs/ambient/migrate/migrate-policies/): "
            "L7 policies \"must use targetRefs\" in ambient mode). The goal names your method. The skeleton has two "
            "policies; the check applies them, then measures in ambient mode (reviews with a waypoint) and in sidecar "
            "mode, and leaves the lab as it found it."
        ),
        *task_cells(
            NAME,
            "no-writes-in-both-modes",
            "lab = Lab('bookinfo', mode='ambient', waypoints=['reviews'], verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nOne policy for the reviews pods' sidecars, one for the waypoint: "
            "which binding does each read? And what does ztunnel make of the sidecars' policy in ambient mode "
            "(section 4)?\n</details>\n\n<details><summary>Solution</summary>\n\n`selector`, your method, "
            "`targetRefs`, your method. In ambient mode the selector policy is bound to ztunnel, and a DENY with only "
            "a method has no effect there (the lab warns, as Istio's status does) — harmless, which is why this pair "
            "works in both modes. A selector DENY that also named a port would deny the whole port in ambient mode.\n"
            "</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- In ambient mode a `selector` binds a policy to the destination pods' **ztunnel**: it enforces "
            "identities, namespaces, IPs and ports when a connection opens, and refuses with a **reset**.\n"
            "- Behind a waypoint the destination's ztunnel sees the **waypoint's** identity: an L4 policy must admit "
            "the waypoint, and the check on the real caller moves to the waypoint (`targetRefs`) — keeping an L4 "
            "policy that admits only the waypoint stops clients that skip it by calling a pod's IP.\n"
            "- A waypoint enforces HTTP rules (methods, paths) and refuses with a **403** `RBAC: access denied`.\n"
            "- HTTP rules bound to ztunnel are converted, not enforced as written: an ALLOW fails closed, a DENY "
            "with only HTTP fields does nothing, a DENY with a port denies the whole port. Read the warning.\n"
            "- CUSTOM, then DENY, then ALLOW: a matching DENY wins over any ALLOW; with no ALLOW policy, what is not "
            "denied is allowed; AUDIT never decides.\n"
            "- Sidecars read only `selector` policies and enforce them in full at the server's sidecar; "
            "waypoints read only `targetRefs` policies. A mesh that uses both modes needs each policy in the form "
            "its enforcement point reads.\n\n" + next_link(NAME)
        ),
    ]
