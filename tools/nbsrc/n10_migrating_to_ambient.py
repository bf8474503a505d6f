"""Notebook 10-migrating-to-ambient: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "10-migrating-to-ambient"
TITLE = "10 migrating to ambient"

GUIDE = "https://istio.io/latest/docs/ambient/migrate/"
ENABLE = "https://istio.io/latest/docs/ambient/migrate/enable-ambient-mode/"
POLICIES = "https://istio.io/latest/docs/ambient/migrate/migrate-policies/"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 10 · Migrating from sidecar to ambient\n\n"
            "**Goal:** move a running mesh from sidecars to ambient mode **one namespace at a time**, as Istio's "
            f"[migration guide]({GUIDE}) does; see which step restarts pods and which does not; follow calls "
            "across the border (a sidecar pod calling an ambient pod, and back, over HBONE); and measure the two "
            "ways an L7 rule is lost when the steps come in the wrong order — a routing rule nobody applies, and "
            "an L7 authorization policy that ztunnel turns into *deny everything*. Every count below is measured "
            "in this run.\n\n" + nav(NAME)
        ),
        md(
            "## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `served_by` "
            "counts which reviews version served each page of a load; `pids` reads every pod's process id (a "
            "new id = the pod was recreated); `route` prints the hops of a request's path."
        ),
        code(
            "from IPython.display import display\n"
            "from meshlab import Lab\n"
            "from meshlab.probes import served_by, pages\n"
            "from meshlab.tables import Table\n"
            "from meshlab.viz import path_figure\n"
            "RATINGS = 'http://ratings.backend:9080/ratings/0'\n\n" + check_setup(NAME) + "\n\n"
            "def pids():\n"
            "    return {row['pod']: row['pid'] for row in lab.pods()}\n\n\n"
            "def show_pods(before=None):\n"
            "    \"\"\"Every pod: namespace, mesh, and whether its process is the one it had in `before`.\"\"\"\n"
            "    display(Table(('pod', 'namespace', 'mesh', 'sidecar', 'same process?'),\n"
            "                  [(r['pod'], r['namespace'], r['mesh'] or '-', 'yes' if r['sidecar_pid'] else 'no',\n"
            "                    '-' if before is None else ('yes' if before.get(r['pod']) == r['pid'] else 'NEW'))\n"
            "                   for r in lab.pods()]))\n\n\n"
            "def route(path):\n"
            "    for h in path.hops:\n"
            "        who = (h.identity or '?').replace('spiffe://cluster.local/', '')\n"
            "        over = f'  (reached over mTLS, peer {who})' if h.mtls else ''\n"
            "        print(f\"{'  ' * h.depth}{h.name:32} {h.role:9} {h.direction or '':8} {h.layer}{over}\")"
        ),
        md(
            "## 1. The mesh before: two namespaces, sidecars everywhere\n\n"
            "The topology `bookinfo-two-namespaces` is Istio's Bookinfo split in two: **frontend** (productpage "
            "and the `client` pod we send from) and **backend** (details, reviews v1/v2/v3, ratings). Both "
            "namespaces are labelled `istio-injection: enabled`. Two rules are in force, as a sidecar mesh would "
            "have them: the traffic-shifting task's *all of reviews to v3* (a VirtualService and its "
            "DestinationRule), and an L7 authorization policy on ratings that allows only `GET`, bound to its "
            "pods by `selector`."
        ),
        code(
            "lab = Lab('bookinfo-two-namespaces', mode='sidecar', verbose=False).start()\n"
            "RULES = '''\\\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: DestinationRule\n"
            "metadata: {name: reviews, namespace: backend}\n"
            "spec:\n"
            "  host: reviews\n"
            "  subsets:\n"
            "  - {name: v1, labels: {version: v1}}\n"
            "  - {name: v2, labels: {version: v2}}\n"
            "  - {name: v3, labels: {version: v3}}\n"
            "---\n"
            "apiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\n"
            "metadata: {name: reviews, namespace: backend}\n"
            "spec:\n"
            "  hosts: [reviews]\n"
            "  http:\n"
            "  - route:\n"
            "    - destination: {host: reviews, subset: v3}\n"
            "---\n"
            "apiVersion: security.istio.io/v1\n"
            "kind: AuthorizationPolicy\n"
            "metadata: {name: ratings-get-only, namespace: backend}\n"
            "spec:\n"
            "  selector:\n"
            "    matchLabels: {app: ratings}\n"
            "  action: ALLOW\n"
            "  rules:\n"
            "  - to:\n"
            "    - operation:\n"
            "        methods: [GET]\n"
            "'''\n"
            "print(lab.apply(RULES))\n"
            "res = pages(lab, 30)\n"
            "print('pages served by', served_by(res), '| broken parts:', res.partial_failures() or 'none')\n"
            "post = lab.request('client', RATINGS, method='POST')\n"
            "print('client POST to ratings:', post.status, post.gist())\n"
            "start = pids()\n"
            "show_pods()"
        ),
        md(
            "Every page is served by reviews-v3 (productpage's sidecar routes them), and the POST is refused with "
            "403 *RBAC: access denied* by ratings' own sidecar, which enforces the policy. Istio's guide starts by "
            "installing the ambient components (ztunnel on every node, the CNI agent); in the lab a node's "
            "ztunnel starts by itself when a namespace on it joins ambient mode."
        ),
        md(
            "## 2. Label backend for ambient — injection still on\n\n"
            f"Istio's [*Enable ambient mode*]({ENABLE}) page enrolls one namespace at a time: "
            "`kubectl label namespace backend istio.io/dataplane-mode=ambient`, leaving `istio-injection` as it "
            "is. The guide's order puts two steps before it — activate the waypoints and migrate the L7 policies "
            "(*\"Activate waypoints before enabling ambient mode\"*) — which backend's route and policy here "
            "need; this section skips them on purpose, and section 5 shows what that costs. As YAML:"
        ),
        code(
            "AMBIENT_LABEL = '''\\\n"
            "apiVersion: v1\n"
            "kind: Namespace\n"
            "metadata:\n"
            "  name: backend\n"
            "  labels: {istio.io/dataplane-mode: ambient}\n"
            "'''"
        ),
        md(
            "### Predict, then run\n\nHow many of backend's five pods are recreated, and in which mesh mode are "
            "they afterwards?\n\n- **a** none recreated; still sidecar\n- **b** none recreated; now ambient\n"
            "- **c** all five recreated; now ambient"
        ),
        code("my_q1 = None   # 'a', 'b' or 'c'"),
        code(
            "print(lab.apply(AMBIENT_LABEL))\n"
            "show_pods(start)\n"
            "backend = [r for r in lab.pods() if r['namespace'] == 'backend']\n"
            "new = sum(start[r['pod']] != r['pid'] for r in backend)\n"
            "modes = {r['mesh'] for r in backend}"
        ),
        code(
            "check('q1', my_q1, 'a' if new == 0 and modes == {'sidecar'} else 'b' if new == 0 else 'c',\n"
            "      'Nothing restarts, and nothing changes yet: a pod selected for both modes keeps its sidecar '\n"
            "      '(\"the sidecar takes precedence over ztunnel for pods that have both\", Istio\\'s guide; the '\n"
            "      'ambient docs add that ambient applies only to a pod without sidecar.istio.io/status).')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nInjection happens when a pod is created. Is anything "
            "created by a label on the namespace?\n</details>"
        ),
        md(
            "## 3. Injection off: the pods restart\n\nNext the guide removes the injection label (`kubectl label "
            "namespace backend istio-injection-`) and then restarts the workloads (`kubectl rollout restart`). "
            "**Where the lab differs:** in Istio, removing the label alone changes no running pod — the sidecars "
            "go only at the restart, a separate step the guide tells you to take only once ambient is confirmed. "
            "The lab has no Deployments to roll: it recreates the pods at once, as the restart would. (With "
            "`kubectl apply` a label set by `kubectl label` is not removed by leaving it out, so the YAML sets "
            "`istio-injection: disabled`, which Istio also reads as *no injection*.)\n\n"
            "### Predict, then run\n\nHow many pods get a new process: backend's five, or all seven?"
        ),
        code("my_q2 = None   # a number of pods"),
        code(
            "print(lab.apply('''\\\n"
            "apiVersion: v1\n"
            "kind: Namespace\n"
            "metadata:\n"
            "  name: backend\n"
            "  labels: {istio.io/dataplane-mode: ambient, istio-injection: disabled}\n"
            "'''))\n"
            "show_pods(start)\n"
            "recreated = sum(start[p] != pid for p, pid in pids().items() if p in start)"
        ),
        code(
            "check('q2', my_q2, recreated,\n"
            "      'backend\\'s five pods: a sidecar is a container of the pod, so it goes only when the pod is '\n"
            "      'recreated. frontend keeps its pods and sidecars. Enrolling pods that have no sidecar is the '\n"
            "      'opposite: ambient captures running pods with no restart at all (notebook 00).')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhich namespace did the label change?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\n5 — details, reviews ×3 and ratings. Istio's dataplane-modes "
            "page sums it up: sidecar onboarding means *label a namespace and restart all pods*, ambient means "
            "*label a namespace — no pod restart required*. Moving **from** sidecars costs the one restart that "
            "removes them.\n</details>"
        ),
        md(
            "## 4. Calls across the border\n\nThe mesh is now mixed: frontend has sidecars, backend is ambient. "
            "Both speak HBONE (HTTP/2 CONNECT inside mutual TLS, port 15008), so the calls between them stay "
            "mutual TLS. **Where the lab differs:** in Istio, sidecars injected before ambient was installed speak "
            "HBONE only after a restart (the guide's *Enable HBONE support in existing sidecars*: they pick up "
            "`ISTIO_META_ENABLE_HBONE=true` when recreated), so a real migration restarts every sidecar namespace "
            "once more; the lab's sidecars speak HBONE from the start. One page, hop by hop:"
        ),
        code("r = lab.request('client', 'http://productpage:9080/productpage')\nroute(r.path)"),
        code(
            "path_figure(r.path, title='one page across the border: sidecars in frontend, ztunnels in backend')"
        ),
        md(
            "productpage's **sidecar** (L7) sends to reviews' and details' pods over HBONE, straight to the "
            "destination node's **ztunnel** (L4), which checks the peer's identity and hands the connection to the "
            "app. (The last hop, ratings *unreached*, is for section 5.) The other way — an ambient pod calling a "
            "sidecar pod — from the ratings pod to productpage:"
        ),
        code(
            "back = lab.request('ratings-v1', 'http://productpage.frontend:9080/productpage')\n"
            "route(back.path)"
        ),
        md(
            "Now ratings' own **ztunnel** carries the call out (L4, HBONE) and productpage's **sidecar** "
            "accepts it on port 15008, seeing ratings' identity.\n\n"
            "### Predict, then run\n\nreviews is in ambient mode and has no waypoint. Of 30 pages, how many are "
            "still served by reviews-v3?"
        ),
        code("my_q3 = None   # a number of pages, 0 to 30"),
        code(
            "res = pages(lab, 30)\n"
            "print('pages served by', served_by(res))\n"
            "v3 = served_by(res).get('reviews-v3', 0)"
        ),
        code(
            "check('q3', my_q3, v3,\n"
            "      'All of them. A VirtualService is applied by the *caller\\'s* proxy in sidecar mode: productpage '\n"
            "      'still has its sidecar, which picks the v3 pod and opens HBONE to it. The destination being ambient '\n"
            "      'changes nothing for the route.', ok=lambda a: a == v3)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhich proxy, in the path above, reads the VirtualService — the "
            "caller's or the callee's?\n</details>"
        ),
        md(
            "## 5. The L7 policy that ztunnel cannot read\n\n"
            "Section 3 took something else away: ratings' sidecar was the proxy that enforced `ratings-get-only`."
        ),
        md(
            "### Predict, then run\n\n`ratings-get-only` is an ALLOW with `methods: [GET]`, bound by `selector`. "
            "ratings has no sidecar any more and no waypoint; its node's ztunnel enforces selector policies. What "
            "does ratings let through now?\n\n- **a** GET only, as before\n- **b** everything: nobody enforces "
            "the policy\n- **c** nothing"
        ),
        code("my_q4 = None   # 'a', 'b' or 'c'"),
        code(
            "res = pages(lab, 10)\n"
            "post = lab.request('client', RATINGS, method='POST')\n"
            "get = lab.request('client', RATINGS)\n"
            "print('broken parts of the pages:', res.partial_failures() or 'none')\n"
            "print('client POST to ratings:', post.status, post.gist())\n"
            "print('client GET to ratings: ', get.status, get.gist())\n"
            "broken = sum(res.partial_failures().values())\n"
            "print(f'{broken} of {len(res)} pages without ratings; client GET: {get.status}, POST: {post.status}')\n"
            "seen = 'c' if broken == len(res) and get.status != 200 else 'b' if post.status == 200 else 'a'"
        ),
        code(
            "check('q4', my_q4, seen,\n"
            "      'Nothing. ztunnel never parses HTTP, so istiod drops the rule\\'s HTTP fields for it, and an ALLOW '\n"
            "      'whose rules can never match allows nothing: reviews\\' calls are reset (\"Ratings service is '\n"
            "      'currently unavailable\"), and the client\\'s sidecar answers 503 for a connection it could not '\n"
            "      'open. Istio\\'s guide warns of exactly this: a selector policy with L7 rules left after the '\n"
            "      'sidecars go \"will be enforced by ztunnel as a DENY policy for all traffic to that workload\".')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nAn ALLOW policy allows what its rules match. What can a rule "
            "with `methods` match, at a proxy that never sees a method?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\n**c**, fail closed. Istio converts the policy for ztunnel "
            "without its HTTP attributes (`pilot/pkg/serviceregistry/ambient/authorization.go`) and reports "
            "*\"ztunnel does not support HTTP attributes … In ambient mode you must use a waypoint proxy to enforce "
            "HTTP rules\"*. A DENY with HTTP fields goes the other way: enforced without them, broader than "
            f"asked. Istio's [*Migrate policies*]({POLICIES}) page: L7 policies must use `targetRefs` to a "
            "waypoint.\n</details>"
        ),
        md(
            "### Moving the policy to a waypoint\n\nThe guide's fix: a waypoint for ratings (a Gateway with "
            "`gatewayClassName: istio-waypoint`, and the `istio.io/use-waypoint` label on the Service), and the "
            "same policy bound to the ratings Service by `targetRefs`. Applied under the same name, it replaces the "
            "selector one (the guide's step 5 deletes the old policy)."
        ),
        code(
            "print(lab.apply('''\\\n"
            "apiVersion: gateway.networking.k8s.io/v1\n"
            "kind: Gateway\n"
            "metadata:\n"
            "  name: waypoint\n"
            "  namespace: backend\n"
            "  labels: {istio.io/waypoint-for: service}\n"
            "spec:\n"
            "  gatewayClassName: istio-waypoint\n"
            "  listeners:\n"
            "  - {name: mesh, port: 15008, protocol: HBONE}\n"
            "---\n"
            "apiVersion: v1\n"
            "kind: Service\n"
            "metadata:\n"
            "  name: ratings\n"
            "  namespace: backend\n"
            "  labels: {istio.io/use-waypoint: waypoint}\n"
            "---\n"
            "apiVersion: security.istio.io/v1\n"
            "kind: AuthorizationPolicy\n"
            "metadata: {name: ratings-get-only, namespace: backend}\n"
            "spec:\n"
            "  targetRefs:\n"
            "  - {kind: Service, group: \"\", name: ratings}\n"
            "  action: ALLOW\n"
            "  rules:\n"
            "  - to:\n"
            "    - operation:\n"
            "        methods: [GET]\n"
            "'''))\n"
            "res = pages(lab, 10)\n"
            "print('broken parts of the pages:', res.partial_failures() or 'none')"
        ),
        md(
            "The pages are whole again: reviews (ambient) reaches ratings through the waypoint, which reads the "
            "method and allows the GET.\n\n### Predict, then run\n\nThe `client` pod is in frontend and still has "
            "its sidecar. It POSTs to ratings again. What does it get?\n\n- **a** 403 from the waypoint\n"
            "- **b** 200: the POST reaches ratings\n- **c** 503: refused at connection"
        ),
        code("my_q5 = None   # 'a', 'b' or 'c'"),
        code(
            "post = lab.request('client', RATINGS, method='POST')\n"
            "print('client POST to ratings:', post.status, post.gist())\n"
            "route(post.path)\n"
            "got = {403: 'a', 200: 'b'}.get(post.status, 'c')"
        ),
        code(
            "check('q5', my_q5, got,\n"
            "      'It reaches ratings: a sidecar sends over HBONE straight to the destination\\'s ztunnel and never '\n"
            "      'through its waypoint, so the L7 policy there does not see it. Istio lists this as a known '\n"
            "      'limitation of the migration: \"L7 policies on the waypoint are not enforced for that traffic '\n"
            "      'until the source is also migrated to ambient mode.\"')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nLook at the path of section 4: where does a sidecar send a call "
            "to an ambient pod?\n</details>\n\n<details><summary>Solution</summary>\n\n**b**. Istio's guide, "
            f"[*What is not supported*]({GUIDE}): \"Traffic from sidecar mode workloads and ingress gateways does "
            f"not go through waypoint proxies.\" Its [*Migrate policies*]({POLICIES}) page adds why a "
            "waypoint-only rule at ztunnel (admit only the waypoint's identity) would reject those sidecars "
            "during the migration, and how to list their identities until they move.\n</details>"
        ),
        md(
            "## 6. Now frontend — in the wrong order\n\nfrontend moves too, but nobody gave reviews a waypoint "
            "first (the guide's order is: activate waypoints, *then* label the namespace). The lab's `set_mode` "
            "does both labels of sections 2–3 at once (ambient on, injection off) and restarts the pods it must.\n\n"
            "### Predict, then run\n\nOf 30 pages, how many are served by reviews-v3 now?"
        ),
        code("my_q6 = None   # a number of pages, 0 to 30"),
        code(
            "print(lab.set_mode('ambient', namespace='frontend'))\n"
            "res = pages(lab, 30)\n"
            "print('pages served by', served_by(res))\n"
            "v3 = served_by(res).get('reviews-v3', 0)\n"
            "post = lab.request('client', RATINGS, method='POST')\n"
            "print('client POST to ratings (the client is ambient now):', post.status, post.gist())"
        ),
        code(
            "check('q6', my_q6, v3,\n"
            "      'About a third: the route is lost. productpage\\'s sidecar, which applied it, is gone, and '\n"
            "      'ztunnel cannot apply a VirtualService; reviews has no waypoint. Each connection goes to any '\n"
            "      'reviews pod. (The POST, on the other hand, is now refused with 403: the client is ambient, so '\n"
            "      'its call to ratings goes through ratings\\' waypoint.)', ok=lambda a: abs(a - v3) <= 6)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nAfter the move, which proxies are on the path from productpage to "
            "reviews, and which of them speaks HTTP?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nAbout 10 of 30 (the measured number is above). The fix is a "
            "waypoint for reviews — your first task does it in the right order. **Where the lab differs:** Istio "
            "recommends moving VirtualServices to Gateway API `HTTPRoute`s (VirtualService at a waypoint is "
            "Alpha, and subsets become one Service per version); the lab reads both kinds (notebooks 02 and 05), "
            "but these tasks keep section 1's VirtualService so that the route survives the move unchanged.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 7. Your task: move frontend without losing the route\n\n"
            "A fresh lab, set up as after section 4: backend is ambient (no waypoint), frontend still has "
            "sidecars, and a VirtualService sends all of reviews' traffic to *your* version (in the goal). Move "
            "frontend to ambient so that no sidecar is left, and keep every page on your version. The check "
            "looks at every pod's mesh mode and loads 20 pages."
        ),
        *task_cells(
            NAME,
            "migrate-without-losing-the-route",
            "lab = Lab('bookinfo-two-namespaces', mode='sidecar', verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nThe route needs a proxy that speaks HTTP on the path once "
            "productpage's sidecar is gone. Where does a waypoint for reviews live — in the caller's namespace or "
            "in reviews'?\n</details>\n\n<details><summary>Solution</summary>\n\nThe Gateway in `backend` (reviews' "
            "namespace), the Service labelled `istio.io/use-waypoint: waypoint`, and frontend labelled "
            "`istio.io/dataplane-mode: ambient` with `istio-injection: disabled`. The waypoint reads the "
            "VirtualService of its own namespace (or the service's). In a real cluster apply them in that order, "
            "waiting for the Gateway to be ready, then `kubectl rollout restart` frontend's deployments.\n"
            "</details>"
        ),
        code("lab.stop()"),
        md(
            "## 8. Your task: the policy, from selector to targetRefs\n\n"
            "A fresh lab in which the migration was done and the policy forgotten: both namespaces are ambient, "
            "*your* service (in the goal) has a waypoint, and its GET-only policy is still bound by `selector` — "
            "so, as in section 5, ztunnel denies everything to it. Rewrite it for the waypoint. The check loads 10 "
            "pages and sends the client's GET and your forbidden method to the service."
        ),
        *task_cells(
            NAME,
            "l7-policy-to-the-waypoint",
            "lab = Lab('bookinfo-two-namespaces', mode='sidecar', verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nSection 5 did it for ratings. Which Service must `targetRefs` "
            "name, and which methods does productpage use?\n</details>\n\n<details><summary>Solution</summary>\n\n"
            "`kind: Service`, `name:` your service, `methods: [GET]` — Istio's guide migrates `allow-get-reviews` "
            "exactly so. The waypoint then answers your forbidden method with 403 *RBAC: access denied*, while "
            "the GETs pass.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- Istio migrates one namespace at a time: sidecar and ambient pods share one mesh, and calls between "
            "them stay mutual TLS over HBONE — a sidecar sends straight to the destination's ztunnel, an ambient "
            "pod's ztunnel to the destination's sidecar.\n"
            "- Labelling a namespace for ambient restarts nothing, and changes nothing while the pods keep their "
            "sidecars (the sidecar takes precedence); the sidecars go only when the pods are recreated. (The lab "
            "recreates them as soon as injection is turned off; Istio waits for your `rollout restart`.)\n"
            "- In sidecar mode a route is applied by the caller's sidecar, so it survives the callee's move; it "
            "is lost when the caller moves and the callee has no waypoint. Hence the guide's order: waypoints "
            "first, then the namespace label.\n"
            "- An L7 AuthorizationPolicy bound by `selector` is enforced by ztunnel once the sidecars are gone, "
            "and an ALLOW with HTTP fields then denies everything. Bind it to the waypoint with `targetRefs`, and "
            "remember that callers still in sidecar mode bypass the waypoint until they move too.\n\n"
            + next_link(NAME)
        ),
    ]
