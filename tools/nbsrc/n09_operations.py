"""Notebook 09-operations: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "09-operations"
TITLE = "09 operations"

MODES_PAGE = "https://istio.io/latest/docs/overview/dataplane-modes/"
INJECTION_PAGE = "https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/"
ADD_PAGE = "https://istio.io/latest/docs/ambient/usage/add-workloads/"
UPGRADE_PAGE = "https://istio.io/latest/docs/ambient/upgrade/helm/"
CANARY_PAGE = "https://istio.io/latest/docs/setup/upgrade/canary/"
REDIRECT_PAGE = "https://istio.io/latest/docs/ambient/architecture/traffic-redirection/"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 09 · Operations: enrollment, restarts, upgrades, key custody\n\n"
            "**Goal:** run the mesh as an operator does — with traffic flowing. Enroll a namespace **under a steady "
            "load** and count the pages that fail (with sidecar injection every pod must be recreated; the ambient label "
            "recreates none); **upgrade** the data plane by restarting every sidecar, then every ztunnel, and see "
            "how far each restart reaches; and find which proxies hold which workload's **private key** — the "
            "blast radius of one compromised proxy in each mode. Every count and time below is measured in this "
            "run; the load's rate is configured.\n\n" + nav(NAME)
        ),
        md(
            "## 0. Setup\n\nHelpers from `meshlab.tasks.operations`: `under_load(lab, change)` starts a steady "
            "load of product pages from the client (25 a second for 4 s, configured) in a background thread, runs "
            "`change()` one second in, and returns what it did: pages sent and failed (no 200, or a 200 that says "
            "*\"... currently unavailable\"*), the pods recreated (their process id changed), how long the change "
            "took; `.figure()` draws every page on a time line. `lab.restart(name)` stops one process and starts "
            "it again; `lab.identities()` asks every proxy process which workload identities it holds the "
            "certificate and private key of (it reports SPIFFE ids, never a key)."
        ),
        code(
            "import meshlab.viz   # shows the figures below as images\n"
            "from meshlab import Lab\n"
            "from meshlab.tasks.operations import under_load, holders\n" + check_setup(NAME)
        ),
        md(
            "## 1. Enrolling a namespace under load\n\n"
            "Bookinfo over two namespaces: `frontend` (productpage and the client) and `backend` (details, "
            "reviews v1-v3, ratings), on two nodes, no mesh yet. We enroll `backend` while pages load.\n\n"
            f"Istio: sidecar injection is a mutating webhook that runs **when a pod is created**, so the pods "
            f"already running must be restarted to get a sidecar ([sidecar injection]({INJECTION_PAGE})); the "
            f"ambient label `istio.io/dataplane-mode=ambient` needs **no pod restart** ([add workloads]({ADD_PAGE}), "
            f"and the [dataplane-modes]({MODES_PAGE}) table: \"Label a namespace and restart all pods to have sidecars "
            "added\" versus \"Label a namespace - no pod restart required\"). **Where the lab differs:** in Istio, "
            "applying the injection label recreates nothing — the operator then restarts the pods "
            "(`kubectl rollout restart`); the lab restarts them itself, at once, as that restart would."
        ),
        code(
            "lab = Lab('bookinfo-two-namespaces', mode='none', verbose=True).start()\n"
            "SIDECARS = '''\\\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: backend\n"
            "  labels: {istio-injection: enabled}\n'''\n"
            "AMBIENT = '''\\\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: backend\n"
            "  labels: {istio.io/dataplane-mode: ambient}\n'''\n"
            "[(p['pod'], p['namespace'], p['node']) for p in lab.pods()]"
        ),
        md(
            "### Predict, then run\n\nHow many of backend's pods are recreated when `istio-injection: enabled` is "
            "applied to it?"
        ),
        code("my_q1 = None   # a number of pods"),
        code(
            "injected = under_load(lab, lambda: lab.apply(SIDECARS))\n"
            "print(injected.summary())\n"
            "check('q1', my_q1, injected.summary()['restarted'],\n"
            "      'Injection happens at pod creation, so every pod of backend is recreated with a sidecar: '\n"
            "      f'{injected.restarted}.')\n"
            "injected.figure('backend: istio-injection=enabled, under load')"
        ),
        md(
            "The red points are pages that failed while backend's pods were being replaced. **Where the lab "
            "differs from Kubernetes:** the lab stops all of the namespace's pods at once and starts them again "
            "(like `kubectl delete pod --all`), in a fraction of a second. `kubectl rollout restart` replaces a "
            "Deployment's pods gradually: by default it starts the new pod first (`maxSurge` 25%, rounded up to "
            "1) and stops the old one only once the new one is ready (`maxUnavailable` 25%, rounded down to 0), so "
            "the old pod keeps serving; failures then come from the old pod's termination racing the endpoint "
            "update, and the rollout takes seconds to minutes, not milliseconds. The count of pods recreated is "
            "the same; the failures and times are not.\n\n"
            "Now back to no mesh (the lab recreates the pods once more, to take the sidecars out, as the restart "
            "after removing the label would), and the ambient "
            "label under the same load."
        ),
        code("lab.delete(SIDECARS)   # back to the topology's labels: no mesh\nprint(lab.mode)"),
        md(
            "### Predict, then run\n\nHow many of backend's pods are recreated when `istio.io/dataplane-mode: "
            "ambient` is applied to it?"
        ),
        code("my_q2 = None   # a number of pods"),
        code(
            "enrolled = under_load(lab, lambda: lab.apply(AMBIENT))\n"
            "print(enrolled.summary())\n"
            "check('q2', my_q2, enrolled.summary()['restarted'],\n"
            "      'Ambient enrollment recreates nothing: the node\\'s ztunnel starts capturing the running pods\\' '\n"
            "      'traffic (istio-cni sets up the redirection inside each pod).')\n"
            "enrolled.figure('backend: istio.io/dataplane-mode=ambient, under load')"
        ),
        md(
            "No pod was recreated. If a page failed here, it is the lab's doing: on loopback there is no "
            "per-pod network to redirect in, so the app's listener moves to a pod-local address and the ztunnel "
            "then opens the pod's ports — a window of a few milliseconds in which a new connection can be "
            f"refused. In Istio the istio-cni agent installs the redirection inside the pod's network namespace "
            f"while the app keeps its socket ([traffic redirection]({REDIRECT_PAGE})).\n\n"
            "<details><summary>Hint</summary>\n\nq1: count backend's pods in the table above. q2: which data "
            "plane lives outside the pod?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nq1: all 5 of backend's pods (details, reviews v1-v3, "
            "ratings); frontend's 2 are untouched. q2: 0 — the ztunnels are per node and were started beside the "
            "pods, not in them.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 2. Upgrades: every sidecar, or every ztunnel\n\n"
            f"Upgrading sidecars means restarting every meshed pod so that it is injected with the new proxy "
            f"([canary upgrades]({CANARY_PAGE})). Ambient's data plane is \"split across two components, the ztunnel "
            "and gateways (which includes waypoints)\": waypoints are upgraded like other gateways, and each node's "
            f"ztunnel is replaced in turn. Istio's [ambient upgrade guide]({UPGRADE_PAGE}) warns that \"upgrading "
            "ztunnel **will** cause all long-lived TCP connections on the upgraded node to reset\" and that ztunnel "
            "upgrades \"affect, at minimum, an entire node at a time\"; where applications keep long-lived TCP "
            "connections, it recommends node cordoning and draining.\n\n"
            "One Bookinfo (one namespace, two nodes), first with sidecars: we restart every sidecar (the client's "
            "too) one after another under load, as a rolling upgrade would."
        ),
        code(
            "lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n"
            "sidecars = [p for p in lab.proxies if p.endswith('/istio-proxy')]\n"
            "rolled = under_load(lab, lambda: [round(lab.restart(p), 3) for p in sidecars], seconds=5)\n"
            "print('seconds each sidecar was down:', dict(zip(sidecars, rolled.report)))\n"
            "print(rolled.summary())\n"
            "rolled.figure('every sidecar restarted, one at a time, under load')"
        ),
        md(
            "In the lab a restarted sidecar takes only its own pod's traffic down, for a moment. **Where the lab "
            "differs:** in Kubernetes a sidecar upgrade replaces the *whole pod* (app and proxy) by a rolling "
            "update that starts the new pod first, which need take no traffic down; here only the proxy process "
            "stops and starts; and the client's own sidecar is restarted too, which no rolling update of Bookinfo "
            "would do.\n\n"
            "Now the same cluster in ambient mode (leaving sidecar mode recreates the pods), and each node's "
            "ztunnel restarted under load."
        ),
        code(
            "lab.set_mode('ambient')\n"
            "ztunnels = sorted(p for p in lab.proxies if p.startswith('ztunnel-'))\n"
            "per_node = {z: [p['pod'] for p in lab.pods() if z == 'ztunnel-' + p['node']] for z in ztunnels}\n"
            "per_node"
        ),
        md(
            "### Predict, then run\n\nWhen `ztunnel-node-2` restarts, how many app pods lose their proxy for that "
            "moment?"
        ),
        code("my_q3 = None   # a number of pods"),
        code(
            "ztunnel_restart = under_load(lab, lambda: round(lab.restart('ztunnel-node-2'), 3))\n"
            "print('ztunnel-node-2 was down for', ztunnel_restart.report, 's')\n"
            "print(ztunnel_restart.summary())\n"
            "check('q3', my_q3, len(per_node['ztunnel-node-2']),\n"
            "      'One ztunnel carries the traffic of every ambient pod on its node: '\n"
            "      f\"{per_node['ztunnel-node-2']}. A sidecar carries its own pod's only.\")\n"
            "ztunnel_restart.figure('ztunnel-node-2 restarted under load')"
        ),
        md(
            "One restart, one node's worth of pods. The lab's Bookinfo apps open a new connection for every call, "
            "so in the lab only calls in flight or started in the short time its ztunnel was down can fail (often "
            "none at this rate); an app holding a long-lived connection through that node would see it reset, as "
            "Istio's guide warns (\"will briefly disrupt all ambient mesh traffic on the node\", \"primarily "
            "affecting long-running connections\"). **Where the lab differs:** the lab stops the ztunnel process "
            "and then starts a new one, so for a moment nobody listens; in Kubernetes the new ztunnel (the "
            "DaemonSet updates with `maxSurge: 1`) gets each pod's network namespace from istio-cni and opens its "
            "own listeners there beside the old one's (`SO_REUSEPORT`), and the old one drains its open "
            "connections for its grace period (29 s by default) before they are reset — so new connections are "
            "never refused (istio/istio `architecture/ambient/ztunnel-cni-lifecycle.md`).\n\n"
            "<details><summary>Hint</summary>\n\nq3: the table `per_node` lists, for each ztunnel, the pods of its "
            "node.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nq3: 3 — reviews-v2, reviews-v3 and ratings run on node-2. "
            "Restarting the sidecars took 7 restarts (one per pod, the client's included), each reaching one pod; "
            "restarting the ztunnels takes 2, each reaching a whole node.\n</details>"
        ),
        md(
            "## 3. Key custody: the blast radius of one proxy\n\n"
            "Each proxy holds the certificate **and private key** of the identities it speaks for (SPIFFE ids, "
            "one per service account). The lab's istiod issues one certificate per service account "
            "(`meshlab.supervisor.Supervisor.issue_certificates`), hands a sidecar its pod's, and a ztunnel those of its node's ambient pods "
            f"(`Supervisor.ztunnel_certs`). Istio's [dataplane-modes]({MODES_PAGE}) page compares the two on key "
            "exposure: with sidecars a compromised pod gives access to that pod's mesh keys, in ambient the app "
            "pod holds none; the node's ztunnel holds the keys of the workloads on its node. The cluster is in "
            "ambient mode now: what does each proxy report?"
        ),
        code("ambient_keys = lab.identities()\nambient_keys"),
        md(
            "### Predict, then run\n\nIn sidecar mode, how many workload identities does the sidecar of "
            "`reviews-v1-0` hold? (Bookinfo's three reviews versions share one service account.)"
        ),
        code("my_q4 = None   # a number of identities"),
        code(
            "lab.set_mode('sidecar')      # recreates every pod with a sidecar\n"
            "sidecar_keys = lab.identities()\n"
            "check('q4', my_q4, len(sidecar_keys['reviews-v1-0/istio-proxy']),\n"
            "      'A sidecar holds the key of its own pod\\'s identity only: '\n"
            "      f\"{sidecar_keys['reviews-v1-0/istio-proxy']}.\")\n"
            "print('holders of the reviews key, sidecar mode:', holders(lab, 'reviews-v1-0'))\n"
            "{'ambient, keys per proxy': {p: len(ids) for p, ids in ambient_keys.items()},\n"
            " 'sidecar, keys per proxy': {p: len(ids) for p, ids in sidecar_keys.items()}}"
        ),
        md(
            "Two ways to read the blast radius, both measured above:\n\n"
            "- **One compromised proxy.** A ztunnel holds a key for every identity of its node's ambient pods (4 on node-1 "
            "here); a sidecar holds one. Taking over a ztunnel is worth more to an attacker than taking over a "
            "sidecar.\n"
            "- **One compromised app.** A sidecar shares its pod with the app, so an attacker in the app's pod "
            "is next to its key; in ambient the app's pod holds no key at all — the key sits in the ztunnel, "
            "outside the pod. That is the row Istio's comparison shows.\n\n"
            "Either way what a key proves is an **identity** (a service account), not a pod: every proxy that "
            "serves a pod of `bookinfo-reviews` holds a credential for that identity (three sidecars, or both "
            "ztunnels here), and an attacker with any one of them can speak as `bookinfo-reviews`. **Where the lab "
            "differs:** in Istio each proxy makes its own private key and gets its own certificate for the identity "
            "(istio-agent's `secretcache.go`; ztunnel's `caclient.rs`), requested per identity from the CA, which "
            "checks that a ztunnel asks only for identities running on its node; the lab issues one key and "
            "certificate per service account and hands the same files to every proxy that needs them.\n\n"
            "<details><summary>Hint</summary>\n\nq4: whose identity does a sidecar present when it speaks for its "
            "pod?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nq4: 1 — `spiffe://cluster.local/ns/default/sa/"
            "bookinfo-reviews`. The sidecars of reviews-v2 and reviews-v3 hold credentials for the same "
            "identity.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 4. Your task: enroll under load\n\n"
            "The task's lab: Bookinfo over two namespaces, no mesh. The check starts a steady load (20 pages a "
            "second for 3 s, configured), applies your Namespace while it runs, then counts the failed pages, the "
            "recreated pods, and sends 5 pages to see that every call into your namespace crosses a proxy. If your "
            "answer recreated the pods, the check moves the namespace back to no mesh so that you can try again."
        ),
        *task_cells(
            NAME,
            "enroll-under-load",
            "lab = Lab('bookinfo-two-namespaces', mode='none', verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nSection 1: one label recreates every pod, the other none.\n"
            "</details>\n\n<details><summary>Solution</summary>\n\n`name:` your namespace, `labels: "
            "{istio.io/dataplane-mode: ambient}`.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 5. Your task: who holds the key?\n\n"
            "The task's lab: frontend runs sidecars, backend is in ambient mode — as a migration leaves a mesh. "
            "Work out from `lab.pods()` (namespace, node, service account) which proxies hold the key of the "
            "workload the goal names; give their names as `lab.proxies` spells them. The check asks every proxy "
            "which identities it holds."
        ),
        *task_cells(
            NAME, "key-holders", "lab = Lab('bookinfo-two-namespaces', mode='none', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA sidecar holds its own pod's identity; a ztunnel holds the "
            "identities of its node's ambient pods; an identity is a service account, shared by every pod that "
            "runs as it.\n</details>\n\n<details><summary>Solution</summary>\n\nFor reviews-v2-0 (service account "
            "bookinfo-reviews, in ambient): `holders: [ztunnel-node-1, ztunnel-node-2]` — node-2 runs reviews-v2 "
            "and v3, node-1 runs reviews-v1 under the same account. For details-v1-0: `[ztunnel-node-1]`; for "
            "ratings-v1-0: `[ztunnel-node-2]`; for productpage-v1-0 (frontend, sidecars): "
            "`[productpage-v1-0/istio-proxy]`.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- Sidecar injection happens at pod creation: enrolling a namespace means recreating every pod (the lab "
            "does it at once; Kubernetes rolls them), and pages can fail while they come back. The ambient label recreates none (measured: the pods kept their "
            "processes).\n"
            "- A sidecar upgrade is a restart of every meshed pod; a ztunnel upgrade is one replacement per node "
            "that resets the long-lived connections of every ambient pod on it (Istio's upgrade guide: cordon and "
            "drain where that matters).\n"
            "- A key proves an identity (a service account). A sidecar holds one, in the app's pod; a ztunnel "
            "holds one for every identity of its node's ambient pods, outside the pods: a compromised app pod exposes no key in "
            "ambient, a compromised ztunnel exposes its whole node's.\n"
            "- The lab's restarts are faster and more abrupt than Kubernetes' rolling updates: compare counts of "
            "pods and proxies with Istio, not milliseconds.\n\n" + next_link(NAME)
        ),
    ]
