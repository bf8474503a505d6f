"""Notebook 03-mtls: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "03-mtls"
TITLE = "03 mTLS"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 03 · Mutual TLS: PERMISSIVE, STRICT, and who gets in\n\n"
            "**Goal:** follow Istio's *Mutual TLS Migration* task. Find out who can reach a meshed service under "
            "the default **PERMISSIVE** mode, and in what form (mutual TLS or plaintext); lock one namespace, then "
            "the whole mesh, to **STRICT**; read the identities that mutual TLS proves; and see the same policy "
            "enforced by ztunnel in ambient mode.\n\n" + nav("03-mtls")
        ),
        md(
            "## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `reach` is the "
            "task's loop — every sleep calls every httpbin — and notes, for each call, the proxy that handed the "
            "request to httpbin and how the request reached it; `show` prints that as a table."
        ),
        code(
            "from collections import Counter\n"
            "from IPython.display import display\n"
            "from prometheus_client.parser import text_string_to_metric_families\n"
            "from meshlab import Lab\n"
            "from meshlab.tables import Table\n"
            "from meshlab.backends import mininet_status\n"
            "from meshlab.viz import topology_figure\n"
            "BACKEND = 'loopback'   # 'mininet' (root only) also lets section 3 capture packets on the wire\n"
            "SOURCES, NAMESPACES = ('sleep-foo', 'sleep-bar', 'sleep-legacy'), ('foo', 'bar')\n\n"
            + check_setup('03-mtls')
            + "\n\n"
            "def reach():\n"
            "    \"\"\"Every sleep calls every httpbin (GET /ip). For each (source, namespace): the status, or the error\n"
            "    curl would report; and the hop that handed the request to httpbin (None if none did).\"\"\"\n"
            "    out = {}\n"
            "    for src in SOURCES:\n"
            "        for ns in NAMESPACES:\n"
            "            r = lab.request(src, f'http://httpbin.{ns}:8000/ip', timeout=5)\n"
            "            hops = r.path.hops if r.path else ()\n"
            "            app = next((i for i, h in enumerate(hops) if h.role == 'app'), None)\n"
            "            out[(src.removeprefix('sleep-'), ns)] = {'outcome': r.status or r.error,\n"
            "                                                     'door': hops[app - 1] if app else None}\n"
            "    return out\n\n\n"
            "def show(got):\n"
            "    rows = []\n"
            "    for (src, ns), g in got.items():\n"
            "        d = g['door']\n"
            "        rows.append((src, f'httpbin.{ns}', str(g['outcome']), d.name if d else '-',\n"
            "                     ('mTLS' if d.mtls else 'plaintext') if d else '-', (d.identity or '-') if d else '-'))\n"
            "    display(Table(('from', 'to', 'outcome', 'handed over by', 'arrived', 'peer identity'), rows))\n\n\n"
            "def failing(got):\n"
            "    return {k for k, g in got.items() if g['outcome'] != 200}"
        ),
        md(
            "## 1. The migration task's cluster\n\nNamespaces `foo` and `bar` each run httpbin (port 8000) and a "
            "sleep client, with sidecars (`istio-injection: enabled`). Namespace `legacy` runs a sleep with no "
            "sidecar: a client outside the mesh."
        ),
        code(
            "lab = Lab('mtls-migration', backend=BACKEND, verbose=False).start()\n"
            "for p in lab.pods():\n"
            "    print(f\"{p['pod']:<15} namespace {p['namespace']:<7} {p['node']}  mesh: {p['mesh'] or 'none (no sidecar)'}\")"
        ),
        code(
            "topology_figure(lab.topology, lab.mesh, title='the mTLS migration task: foo and bar meshed, legacy not')"
        ),
        md(
            "## 2. The default: PERMISSIVE\n\nNo PeerAuthentication exists yet, so every workload is PERMISSIVE, "
            "Istio's default: a sidecar accepts mutual TLS *and* plaintext on the same port. That is what lets a "
            "cluster move into the mesh one namespace at a time.\n\n### Predict, then run\n\nOut of the six calls "
            "(three sleeps × two httpbins), how many succeed? How many of those arrive at httpbin's sidecar over "
            "mutual TLS?"
        ),
        code(
            "my_q1 = None   # how many of the 6 calls succeed\n"
            "my_q2 = None   # how many arrive over mutual TLS"
        ),
        code("got = reach()\nshow(got)"),
        code(
            "check('q1', my_q1, sum(g['outcome'] == 200 for g in got.values()),\n"
            "      'PERMISSIVE admits everyone: clients in the mesh and clients outside it.')\n"
            "check('q2', my_q2, sum(bool(g['door'] and g['door'].mtls) for g in got.values()),\n"
            "      \"A client's sidecar upgrades its calls to mutual TLS whenever the server has a sidecar too (Istio's \"\n"
            "      \"auto mTLS). sleep-legacy has no sidecar: it speaks plaintext, and PERMISSIVE lets that in.\")"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWho can speak mutual TLS? Only a workload with a proxy holding "
            "a certificate from the mesh's CA.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nAll 6 succeed; 4 arrive over mutual TLS (foo's and bar's "
            "sleeps, to either httpbin), 2 in plaintext (legacy's). The task shows the same: every call returns "
            "200.\n</details>"
        ),
        md(
            "### How Istio lets you check: the destination's metrics\n\nIstio's standard metric "
            "`istio_requests_total`, as the destination's proxy reports it, has a label "
            "`connection_security_policy`: `mutual_tls`, or `none` for plaintext. (Reported by the *source*, it "
            "says `unknown` even for mTLS — a common source of confusion.) Each httpbin's sidecar, so far:"
        ),
        code(
            "def by_security(proxy):\n"
            "    \"\"\"The requests a proxy received (reporter=destination), by connection_security_policy.\"\"\"\n"
            "    out = Counter()\n"
            "    for family in text_string_to_metric_families(lab.metrics(proxy)):\n"
            "        for s in family.samples:\n"
            "            if s.name == 'istio_requests_total' and s.labels.get('reporter') == 'destination':\n"
            "                out[s.labels['connection_security_policy']] += int(s.value)\n"
            "    return dict(out)\n\n\n"
            "for ns in NAMESPACES:\n"
            "    print(f'httpbin-{ns}:', by_security(f'httpbin-{ns}-0/istio-proxy'))"
        ),
        md(
            "## 3. On mininet: what the wire shows\n\nOn the **mininet** backend (root), every node and pod is a "
            "network namespace joined by real links, and `lab.capture(where, during=...)` runs tcpdump on a "
            "link while your traffic flows. It returns the pcap file (Wireshark opens it) and a table of what an "
            "eavesdropper on that link could read: HTTP in the clear, or only TLS records. Under PERMISSIVE, "
            "legacy's requests cross the wire as readable HTTP; the meshed sleeps' requests are TLS application "
            "data.\n\nOn the **loopback** backend (Binder's) there are no links to tap: the cell below then shows the "
            "same capture **recorded on mininet** (it says where and when), its table computed from the recorded pcap "
            "files in `recordings/03-mtls-capture/`. With root, set `BACKEND = 'mininet'` in the setup cell and run "
            "the notebook again to capture your own."
        ),
        code(
            "if lab.backend.name == 'mininet':\n"
            "    for src in ('sleep-legacy', 'sleep-bar'):       # both call httpbin.bar, on node-2, from node-1\n"
            "        cap = lab.capture('node-2', during=lambda: [lab.request(src, 'http://httpbin.bar:8000/ip') for _ in range(3)])\n"
            "        print(f\"{src} -> httpbin.bar, on node-2's link:\", cap.readable())\n"
            "        print(cap.table(limit=8), end='\\n\\n')\n"
            "else:\n"
            "    ok, why = mininet_status()\n"
            "    print(f'Packet capture needs the mininet backend; this lab runs on {lab.backend.name}.')\n"
            "    print('mininet here:', \"available: set BACKEND = 'mininet' in the setup cell\" if ok else f'not available ({why})')\n"
            "    from meshlab.telemetry.pcap import load_recorded\n"
            "    rec = load_recorded('03-mtls-capture')\n"
            "    print(f'\\nThe same capture, {rec.label}:\\n')\n"
            "    for c, cap in rec.captures:\n"
            "        print(f\"{c['source']} -> httpbin.bar, on node-2's link (recorded):\", cap.readable())\n"
            "        print(cap.table(limit=8), end='\\n\\n')"
        ),
        md(
            "## 4. STRICT in namespace foo\n\nThe task's next step: a PeerAuthentication named `default` in `foo` "
            "sets every workload there to STRICT — mutual TLS only."
        ),
        code(
            "STRICT_FOO = '''\\\n"
            "apiVersion: security.istio.io/v1\n"
            "kind: PeerAuthentication\n"
            "metadata:\n"
            "  name: default\n"
            "  namespace: foo\n"
            "spec:\n"
            "  mtls:\n"
            "    mode: STRICT\n"
            "'''"
        ),
        md(
            "### Predict, then run\n\nWhich of the six calls fail now? Write them as a set of (source, namespace) "
            "pairs, e.g. `{('bar', 'foo')}`; none at all is `set()`."
        ),
        code("my_q3 = None   # a set of (source, namespace) pairs"),
        code("print(lab.apply(STRICT_FOO))\ngot = reach()\nshow(got)"),
        code(
            "check('q3', my_q3, failing(got),\n"
            "      \"Only plaintext is refused, and only where STRICT applies: legacy -> foo. legacy -> bar still works \"\n"
            "      \"(bar is still PERMISSIVE), and every meshed client already spoke mutual TLS.\",\n"
            "      ok=lambda a: set(a) == failing(got))"
        ),
        md(
            "<details><summary>Hint</summary>\n\nSTRICT is a rule for the *server* side, about the *form* of a "
            "connection. Which clients were sending plaintext, and to whom?\n</details>"
        ),
        md(
            "legacy's client sees `connection reset`: what curl reports as *Recv failure: Connection reset by peer*, "
            "exit code 56, as in the task. The refusal happens before any HTTP is exchanged, so there is no status "
            "code, and the lab's path ends in an `unreached` hop. httpbin-foo's sidecar keeps its own record of the "
            "connections it turned away (its admin stats, as Envoy's `/stats` would):"
        ),
        code("for rec in lab.proxies['httpbin-foo-0/istio-proxy'].call('stats')['refused']:\n    print(rec)"),
        md(
            "**What the loopback backend cannot enforce.** STRICT above is enforced by the sidecar (or ztunnel) "
            "that owns the pod's address. On the **loopback** backend every pod is an address on this machine's "
            "one loopback interface, with no network namespace around it, so any process on the machine can "
            "connect straight to an app's pod-local address (127.x.(128+i).y) and talk plaintext to it — around "
            "the mesh, which no Kubernetes pod could do. The lab closes what it can there: a pod's capture port "
            "(15001) takes only that pod's own connections, and relays nowhere outside the lab. On the "
            "**mininet** backend (root) every pod is its own network namespace with istio-init's iptables rules, "
            "as in a cluster: the app is reachable only through its proxy, and STRICT holds for every client."
        ),
        md(
            "## 5. STRICT for the whole mesh\n\nThe same policy in the root namespace, `istio-system`, applies to "
            "every namespace that has none of its own (the narrowest policy wins)."
        ),
        code(
            "STRICT_MESH = STRICT_FOO.replace('namespace: foo', 'namespace: istio-system')\n"
            "print(STRICT_MESH)"
        ),
        md(
            "### Predict, then run\n\nWith STRICT in `istio-system` (and foo's own STRICT policy still in force), "
            "which of the six calls fail? Write them as a set of (source, namespace) pairs."
        ),
        code("my_q4 = None   # a set of (source, namespace) pairs that fail"),
        code("print(lab.apply(STRICT_MESH))\ngot = reach()\nshow(got)"),
        code(
            "check('q4', my_q4, failing(got),\n"
            "      'Now every workload in the mesh is STRICT: legacy is shut out of foo and bar alike. The meshed sleeps '\n"
            "      'notice nothing.', ok=lambda a: set(a) == failing(got))"
        ),
        md(
            "## 6. The identities mutual TLS proves\n\nEach mTLS connection carries the client's certificate, with "
            "its SPIFFE identity: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. The last column "
            "of the table above is what httpbin's sidecar saw.\n\n### Predict, then run\n\nBoth sleeps run as "
            "the service account `sleep`. Which identity does httpbin.foo's sidecar see when sleep in **bar** calls "
            "it?"
        ),
        code("my_q5 = None   # a SPIFFE id: 'spiffe://...'"),
        code("seen = got[('bar', 'foo')]['door'].identity\nprint(seen)"),
        code(
            "check('q5', my_q5, seen,\n"
            "      'The identity names the namespace and the service account, so the two sleeps are told apart. That is '\n"
            "      'what an AuthorizationPolicy matches: principals such as cluster.local/ns/bar/sa/sleep (the '\n"
            "      'identity without spiffe://), or namespaces: [bar].')"
        ),
        md(
            "<details><summary>Solution</summary>\n\n`spiffe://cluster.local/ns/bar/sa/sleep`. A plaintext "
            "client proves nothing: under PERMISSIVE, legacy's calls arrived with no identity at all.\n</details>"
        ),
        md(
            "## 7. The same policy in ambient mode\n\nMove namespace `foo` to ambient mode, as Istio does by "
            "relabelling it (`istio.io/dataplane-mode=ambient`, and no more injection). In Istio the pods keep "
            "their sidecars until you restart them (the sidecar takes precedence over ztunnel); the lab restarts "
            "them for you, without their sidecars, and the node's ztunnel takes over their traffic. The mesh-wide STRICT policy stays "
            "as it is.\n\n### Predict, then run\n\nztunnel never parses HTTP. Which calls fail now?"
        ),
        code("my_q6 = None   # a set of (source, namespace) pairs that fail"),
        code("print(lab.set_mode('ambient', namespace='foo'))\ngot = reach()\nshow(got)"),
        code(
            "check('q6', my_q6, failing(got),\n"
            "      \"mTLS is L4: ztunnel enforces PeerAuthentication (istiod turns STRICT into a ztunnel rule: no peer \"\n"
            "      \"identity, no entry). legacy stays shut out; bar's sidecar reaches foo's ztunnel over HBONE, with \"\n"
            "      \"its own identity.\", ok=lambda a: set(a) == failing(got))"
        ),
        md(
            "<details><summary>Hint</summary>\n\nIs mutual TLS an HTTP feature? Which proxy in ambient mode "
            "terminates the mTLS connection in front of httpbin.foo?\n</details>\n\n"
            "In ambient mode the refusal is the destination ztunnel's, and it shows in the path:"
        ),
        code("lab.request('sleep-legacy', 'http://httpbin.foo:8000/ip', timeout=5)"),
        md(
            "<details><summary>One more Istio rule</summary>\n\nztunnel knows two modes only: STRICT, and not "
            "STRICT. istiod's conversion of PeerAuthentication for ztunnel "
            "(`pilot/pkg/serviceregistry/ambient/authorization.go`) treats `DISABLE` as PERMISSIVE: a DISABLE "
            "policy in `foo` lifts a mesh-wide STRICT for foo and lets plaintext in again, while meshed clients "
            "still arrive over HBONE — ztunnel never turns mutual TLS off. Istio's docs say such policies \"will be "
            "ignored\"; the code makes them PERMISSIVE, and the lab follows the code (it warns when you apply "
            "one).\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 8. Your task: only one caller\n\nIdentities are what authorization policies use. On Bookinfo in "
            "ambient mode, write an `AuthorizationPolicy` for a service's pods that lets **only its one real caller** "
            "in: the goal names the service and the caller (Istio's example, and the default: only productpage, "
            "service account `bookinfo-productpage`, may call reviews; a principal is the SPIFFE ID without "
            "`spiffe://`). ztunnel enforces it at L4, on the identity mutual TLS proved. The check applies your "
            "YAML, loads the product page 10 times (it must stay whole), and calls the service directly from the "
            "client pod (service account `curl`), which must be refused."
        ),
        *task_cells(
            "03-mtls", "only-one-caller", "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nThe selector picks pods by their `app` label (the service's name "
            "here). The action that lets the listed sources in, and denies everyone else, is `ALLOW`. A principal "
            "looks like `cluster.local/ns/<namespace>/sa/<service account>`.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nFor reviews: `reviews`, `ALLOW` and "
            "`cluster.local/ns/default/sa/bookinfo-productpage` (for ratings: `ratings` and `bookinfo-reviews`). "
            "With a waypoint for the service the same policy breaks the page: the ztunnel in front of its pods then "
            "sees the *waypoint's* identity (notebook 02), so the policy belongs on the waypoint (`targetRefs`)."
            "\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 9. Your task: a STRICT mesh, one namespace left PERMISSIVE\n\nSections 4 and 5 made foo STRICT, "
            "then the whole mesh. A real migration often needs both at once: the mesh STRICT, except a namespace "
            "whose legacy clients have not moved yet. On a fresh lab (foo and bar with sidecars, legacy outside the "
            "mesh), write the two PeerAuthentications; the goal names the namespace that stays PERMISSIVE (each "
            "learner gets foo or bar). The check reads the policies in force and sends three calls from each sleep "
            "to each httpbin it names."
        ),
        *task_cells(
            "03-mtls", "permissive-to-strict", "lab = Lab('mtls-migration', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA PeerAuthentication with no selector applies to the namespace it "
            "is in; in `istio-system`, the root namespace, to every namespace without one of its own. The narrowest "
            "policy wins.\n</details>\n\n<details><summary>Solution</summary>\n\n`istio-system` and `STRICT`, then "
            "your PERMISSIVE namespace and `PERMISSIVE`. The mesh-wide policy alone would shut legacy out of both "
            "namespaces, and the check says so.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- PERMISSIVE (the default) accepts mutual TLS and plaintext on the same port; meshed clients use "
            "mutual TLS on their own, and clients outside the mesh still get in, in plaintext.\n"
            "- STRICT refuses plaintext with a reset before any HTTP (curl: exit code 56). A namespace's policy "
            "covers that namespace; one in `istio-system` covers the mesh.\n"
            "- mutual TLS proves identities — `spiffe://cluster.local/ns/<ns>/sa/<sa>` — which authorization "
            "policies then use.\n"
            "- Istio shows it in `istio_requests_total{connection_security_policy=...}` at the destination; on "
            "mininet, a capture shows it on the wire.\n"
            "- In ambient mode the same PeerAuthentication is enforced by ztunnel.\n\n" + next_link(NAME)
        ),
    ]
