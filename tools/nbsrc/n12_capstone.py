"""Notebook 12-capstone: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "12-capstone"
TITLE = "12 capstone"

#: the diagnosis helpers, in the task's first cell so that it runs alone after a restart
HELPERS = (
    "from collections import Counter\n"
    "from prometheus_client.parser import text_string_to_metric_families\n"
    "check = ex.show   # check('q1', my_q1, measured, why): ✔ or ✘, then why\n\n\n"
    "def hops(path):\n"
    "    \"\"\"One line per hop (a peer's identity without spiffe://cluster.local/), and its error under it.\"\"\"\n"
    "    for h in path.hops:\n"
    "        who = (h.identity or '?').replace('spiffe://cluster.local/', '')\n"
    "        peer = f'mTLS from {who}' if h.mtls else ('plaintext' if h.direction == 'inbound' else '')\n"
    "        print(f\"{'  ' * h.depth}{h.name:30} {h.role:9} {h.direction or '':8} {h.status or '':4} {peer}\")\n"
    "        if h.error:\n"
    "            print(f\"{'  ' * h.depth}    {h.error}\")\n\n\n"
    "def series(metric, by):\n"
    "    out = Counter()\n"
    "    for proxy in lab.proxies:\n"
    "        for f in text_string_to_metric_families(lab.metrics(proxy)):\n"
    "            for s in f.samples:\n"
    "                if s.name == metric:\n"
    "                    out[(proxy,) + tuple(s.labels.get(k, '') for k in by)] += int(s.value)\n"
    "    for key, n in sorted(out.items()):\n"
    "        print(*key, n, sep=' | ')\n"
    "    return out\n\n\n"
)


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    start_fix, answer_fix = task_cells(
        NAME,
        "make-the-mesh-healthy",
        HELPERS + "lab = Lab('bookinfo-two-namespaces', mode='sidecar', verbose=False).start()\n",
    )
    start_export, answer_export = task_cells(
        NAME,
        "export-it",
        "from pathlib import Path\n"
        "lab = Lab('bookinfo-two-namespaces', mode='sidecar', verbose=False).start()\n",
    )
    return [
        md(
            "# 12 · Capstone: a broken mesh to fix, then export\n\n"
            "**Goal:** use the tools of notebooks 00-11 on one mesh with **both data planes** and **several faults "
            "at once**: find each fault from what the lab measures (pages, paths and hops, the proxies' metrics, "
            "`lab.policies()`, `lab.warnings`), fix only what is broken, keep what the team meant — then export "
            "the healthy mesh as the Kubernetes and Istio YAML a real cluster needs. Every count below is "
            "measured in this run; the faults are *seeded* (configured), three per learner, chosen from four.\n\n"
            + nav(NAME)
        ),
        md(
            "## 0. Setup\n\n`check` compares your prediction with what the lab measured. The first cell of the task "
            "below defines two more helpers: `hops` prints the hops of one page's path (who, role, direction, "
            "whether it arrived over mTLS and from which identity, and any error); `series` sums one metric of "
            "every proxy by the labels you name."
        ),
        code("from meshlab import Lab\n\n" + check_setup(NAME)),
        md(
            "## 1. The mesh, and what the team meant\n\n"
            "Bookinfo over two namespaces (`bookinfo-two-namespaces`, notebook 10): **frontend** (productpage and "
            "the `client` pod) keeps its **sidecars**; **backend** (details, reviews v1-v3, ratings) is in "
            "**ambient** mode, ztunnels only. Sidecar and ambient pods talk to each other over HBONE with mutual "
            "TLS (istiod's `pilot/pkg/xds/endpoints/endpoint_builder.go`: a sidecar tunnels to ambient endpoints; "
            "https://istio.io/latest/docs/ambient/migrate/: \"sidecar and ambient workloads can coexist in the same "
            "mesh\"; and the lab's interop tests). "
            "The team's configuration (`meshlab.tasks.capstone.BASELINE`): reviews' subsets and a VirtualService "
            "sending every page to **v3** (productpage's sidecar applies it: a sidecar caller routes by the "
            "VirtualService itself, no waypoint needed), a **STRICT** PeerAuthentication in backend, and an L4 "
            "AuthorizationPolicy `ratings-callers` that lets only reviews' identity reach ratings (ztunnel "
            "enforces principals at L4: https://istio.io/latest/docs/ambient/usage/l4-policy/).\n\n"
            "The next cell starts the lab, puts the team's configuration in force, and seeds **your** three faults "
            "on top (your variant; the goal does not say which)."
        ),
        start_fix,
        md(
            "### Predict, then run\n\nThe client loads 12 product pages. How many come back with HTTP **200**?"
        ),
        code("my_q1 = None   # a number of pages, 0 to 12"),
        code(
            "res = lab.load('client', 'http://productpage:9080/productpage', requests=12, concurrency=2, progress=False)\n"
            "s = res.summary()['requests']\n"
            "print('by status:', s['by_status'])\n"
            "print('pages with a missing part:', res.partial_failures())"
        ),
        code(
            "check('q1', my_q1, s['ok'],\n"
            "      \"Bookinfo degrades instead of failing: productpage answers 200 and says 'product details are \"\n"
            "      \"currently unavailable' when details fails, reviews shows 'Ratings service is currently \"\n"
            "      \"unavailable' when ratings fails. A status-code dashboard can look green while every page is broken; \"\n"
            "      \"read the pages (partial_failures) and the hops.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhat does productpage answer when one of the services it calls "
            "fails (notebook 04)?\n</details>\n\n"
            "## 2. Follow one page\n\nA page's path: every hop, in order. An L7 proxy shows the status it saw; a "
            "ztunnel the identity that reached it over mTLS and its verdict (the lab writes `RBAC: ...`; Istio's ztunnel "
            "logs \"connection closed due to policy rejection: ...\"); an `unreached` hop is a "
            "call that got to no app. Look for the hop where each broken part stops, and for an **inbound** hop that "
            "says *plaintext*:"
        ),
        code("hops(next(iter(res.paths.values())))"),
        md(
            "The same page as a waterfall (measured): where a bar ends early or a hop is *unreached*, something "
            "stopped the call there."
        ),
        code(
            "from meshlab.viz import path_figure\n"
            "path_figure(next(iter(res.paths.values())), title='one page of the broken mesh (measured)')"
        ),
        md(
            "### Predict, then run\n\nHow many proxies take requests **in** without mutual TLS on these pages (the "
            "backend is STRICT; frontend has no PeerAuthentication, so it is PERMISSIVE, Istio's default: \"By default, "
            "Istio configures the destination workloads using the PERMISSIVE mode\", "
            "https://istio.io/latest/docs/tasks/security/authentication/mtls-migration/)?"
        ),
        code("my_q2 = None   # a number of proxies"),
        code(
            "plaintext = sorted({h.name for p in res.paths.values() for h in p.hops\n"
            "                     if h.role in ('sidecar', 'ztunnel', 'waypoint') and h.direction == 'inbound' and not h.mtls})\n"
            "print('took requests in plaintext:', plaintext or 'none')"
        ),
        code(
            "check('q2', my_q2, len(plaintext),\n"
            "      \"PERMISSIVE accepts plaintext and mTLS alike, so a caller told not to use mTLS (a DestinationRule \"\n"
            "      \"with tls.mode DISABLE: Istio's DestinationRule reference, ClientTLSSettings) gets no error at all: \"\n"
            "      \"only the hop shows it. Against a STRICT \"\n"
            "      \"sidecar the same DestinationRule fails the call (a 503; in this lab flagged UC, notebook 11; Istio's \"\n"
            "      \"troubleshooting page points at UF for an mTLS conflict). To an ambient pod it changes nothing: \"\n"
            "      \"istiod keeps HBONE with mutual TLS (cluster_tls.go), as the lab does.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA fault that breaks nothing visible is still a fault: the goal asks "
            "for mTLS everywhere.\n</details>\n\n"
            "## 3. What the proxies counted\n\nThe sidecars count HTTP requests (`istio_requests_total`, with "
            "`response_flags`: `NC` no cluster for the route, `UF` upstream connection failure, `UC` upstream "
            "connection termination, `URX` the retry limit reached, `FI` an injected abort: "
            "https://istio.io/latest/docs/reference/config/metrics/ and Envoy's `%RESPONSE_FLAGS%`. What a "
            "sidecar reports when a destination ztunnel refuses its HBONE connection is the lab's `UF,URX`; "
            "Istio's sidecar more likely sees the tunnel end, `UC`, unverified here); the "
            "ztunnels count connections only (`istio_tcp_connections_closed_total`, with `DENY` on a connection "
            "its policy refused — ztunnel \"does not terminate workload HTTP traffic or parse workload HTTP "
            "headers\": https://istio.io/latest/docs/ambient/overview/). "
            "Failures first:"
        ),
        code(
            "http = series('istio_requests_total', ('reporter', 'destination_service_name', 'response_code', 'response_flags'))\n"
            "print()\n"
            "tcp = series('istio_tcp_connections_closed_total', ('reporter', 'source_principal', 'destination_service_name', 'response_flags'))"
        ),
        md(
            "## 4. What is in force, and what the lab warned about\n\n`lab.policies()` lists the objects in force "
            "(as `kubectl get` would); `lab.warnings` what the last apply would do that its author may not expect "
            "(as `istioctl analyze` does, e.g. IST0101 for a subset no DestinationRule defines). Compare them with "
            "the team's intent in section 1:"
        ),
        code(
            "for o in lab.policies():\n"
            "    print(f'{o.kind:22} {o.namespace}/{o.name}')\n"
            "print('\\nwarnings of the last apply:', lab.warnings or 'none')\n"
            "print()\n"
            "print(lab.policies_yaml())"
        ),
        md(
            "## 5. Your task: make the mesh healthy\n\nFix each fault with `lab.apply(...)` (an object of the same "
            "kind, namespace and name replaces the one in force) or `lab.delete(kind=..., name=..., "
            "namespace=...)`, then run the check. `lab.delete(all=True)` makes the pages whole too — and takes the "
            "team's route, STRICT and the ratings policy with it: the check refuses it. So does moving a namespace "
            "to another data plane. The check loads 8 pages, reads their hops and what is in force, and calls a "
            "ratings pod straight from the client (it must still be refused: in the lab the client's sidecar sends "
            "even a call to a pod's IP over HBONE with its identity, so `ratings-callers` decides; Istio's sidecar "
            "would send it in plaintext through its passthrough cluster, which backend's STRICT refuses anyway). "
            "Your answer cell:"
        ),
        answer_fix,
        md(
            "<details><summary>Hint</summary>\n\nFour kinds of fault are in the pool, three are yours. Each has its "
            "own symptom: a part of the page missing with a `503` and `NC` at productpage's sidecar; details "
            "missing with `DENY` at a ztunnel; ratings missing with `DENY` at a ztunnel and a principal that looks "
            "almost right; or a whole page with one inbound hop in plaintext. One fault can hide another: while "
            "no call reaches reviews, none reaches ratings either — check again after each fix.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\n"
            "- **NC from productpage's sidecar to reviews**: DestinationRule `backend/reviews` lost subset `v3`, "
            "which the VirtualService routes to; Envoy has no cluster for it. Re-apply it with v1, v2 and v3 "
            "(the team's object in section 1).\n"
            "- **DENY at details' ztunnel, source productpage**: AuthorizationPolicy `backend/details-deny` "
            "(a DENY for `cluster.local/ns/frontend/sa/bookinfo-productpage`): `lab.delete(kind='AuthorizationPolicy', "
            "name='details-deny', namespace='backend')`.\n"
            "- **DENY at ratings' ztunnel, source reviews**: `backend/ratings-callers` names "
            "`cluster.local/ns/frontend/sa/bookinfo-reviews`, a namespace reviews is not in; re-apply it with "
            "`cluster.local/ns/backend/sa/bookinfo-reviews`. Deleting it also makes the pages whole and lets every "
            "identity reach ratings: the check calls ratings from the client to see.\n"
            "- **plaintext into productpage's sidecar**: DestinationRule `frontend/productpage` with "
            "`tls: {mode: DISABLE}`: `lab.delete(kind='DestinationRule', name='productpage', namespace='frontend')`. "
            "(Making frontend STRICT would turn it into a 503, not fix it.)\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 6. Your task: export it\n\n`lab.export(folder)` writes the lab as it stands — topology, each "
            "namespace's enrollment, waypoints, the Istio objects in force — as files for `kubectl apply -f folder` "
            "(`meshlab export` on the command line does the same from a scenario): `00-namespaces.yaml` "
            "(Namespaces with `istio-injection` or `istio.io/dataplane-mode` labels), `10-apps.yaml` "
            "(ServiceAccounts, Services, Deployments with Istio's published Bookinfo images), `20-waypoints.yaml` "
            "when there are waypoints, `30-policies.yaml`, and a `README.md` of commands. The task's first cell "
            "starts a fresh lab in the healthy state (as your fix left it)."
        ),
        start_export,
        code(
            "OUT = 'capstone-export'   # the folder to write into (a re-export replaces what meshlab wrote there)\n"
            "m = lab.export(OUT, command=f'lab.export({OUT!r})')\n"
            "for f in sorted(Path(OUT).iterdir()):\n"
            "    print(f'{f.name:20} {f.stat().st_size:6} bytes')\n"
            "print()\n"
            "print((Path(OUT) / '00-namespaces.yaml').read_text())\n"
            "print('warnings:', m.warnings or 'none')"
        ),
        md(
            "The README's commands, as it gives them (a kind cluster with one worker per lab node, the Gateway API "
            "CRDs, `istioctl install --set profile=ambient`, `kubectl apply -f .`, then traffic). **The lab cannot "
            "run them here**: there is no Docker, no Kubernetes and no istioctl on this machine or on Binder. Run "
            "them on your own machine; what differs from the lab (the images, the apps' service times) is in the "
            "README too."
        ),
        code(
            "readme = (Path(OUT) / 'README.md').read_text()\n"
            "blocks = readme.split('```bash')[1:]\n"
            "for b in blocks:\n"
            "    print(b.split('```')[0].strip(), end='\\n\\n')"
        ),
        md(
            "Now give the folder's path as your answer (as text: `answer = 'capstone-export'`). The check reads the "
            "files with PyYAML: the Namespaces must carry the mesh labels, `30-policies.yaml` exactly the objects "
            "in force now, and none of the seeded faults."
        ),
        answer_export,
        md(
            "<details><summary>Hint</summary>\n\nThe folder is the one you passed to `lab.export(...)`. Changed the "
            "lab after exporting? Export again: the check compares with what is in force now.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\n`answer = 'capstone-export'` (the cell above wrote it). "
            "`kubectl apply -f capstone-export` applies the files in name order, namespaces first, so injection and "
            "ambient enrollment are in place before any pod exists.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "The whole course, in one mesh:\n\n"
            "- **Two data planes** (00-03, 10): sidecars parse every HTTP request in each pod; ztunnels carry L4 over HBONE "
            "with mTLS, one per node; waypoints add L7 where asked. They mix, namespace by namespace.\n"
            "- **Traffic rules** (04-06): a sidecar caller applies routes, retries, timeouts and faults; in ambient "
            "mode a waypoint does. A route to a subset no DestinationRule defines is a 503 `NC`.\n"
            "- **Security** (03, 07): PERMISSIVE takes plaintext silently, STRICT refuses it; a `tls: DISABLE` "
            "DestinationRule to a sidecar server is a silent hole (PERMISSIVE) or a 503 (STRICT); to an ambient pod "
            "HBONE keeps mTLS. ztunnel enforces principals at L4; a DENY wins.\n"
            "- **Cost and operations** (08-09): ambient runs a proxy per node, not per pod, and in Istio's figures "
            "costs less per request (this lab's Python ztunnel pays more per connection: 01, 08); enrolling in "
            "ambient needs no restart, sidecar injection does.\n"
            "- **Debugging** (11, here): pages, hops, metrics with `response_flags`, what is in force and the "
            "warnings — then a targeted fix, not `delete(all=True)`.\n"
            "- **Export**: what you built in the lab is Kubernetes and Istio YAML for a real cluster.\n\n"
            + next_link(NAME)
        ),
    ]
