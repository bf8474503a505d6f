"""Notebook 01-sidecar-vs-ambient: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "01-sidecar-vs-ambient"
TITLE = "01 sidecar vs ambient"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 01 · Sidecar vs ambient\n\n"
            "**Goal:** send the same requests through Istio's three traffic flows — app → sidecar → sidecar → app; "
            "app → ztunnel → ztunnel → app; app → ztunnel → waypoint → ztunnel → app — watch each request cross "
            "the proxies, and fill in Istio's *Sidecar or ambient?* table with numbers measured right here.\n\n"
            + nav("01-sidecar-vs-ambient")
        ),
        md(
            "## Predict first\n\nBefore running anything, write down your guesses. For one call from productpage to "
            "reviews in Bookinfo:\n\n1. How many proxies does it cross in **sidecar** mode? In **ambient** mode? With a "
            "**waypoint**?\n2. In how many of those proxies is the HTTP request parsed (L7 processing)?\n3. Which mode "
            "runs the **fewest proxy processes** for the whole Bookinfo cluster?"
        ),
        code(
            check_setup('01-sidecar-vs-ambient') + "\n"
            "my_q1 = None   # proxies one call crosses, per mode: a dict {'sidecar': ?, 'ambient': ?, 'ambient+waypoint': ?}\n"
            "my_q2 = None   # L7 processing steps per call, per mode: a dict like the one above\n"
            "my_q3 = None   # the mode that runs the fewest proxy processes: 'sidecar' or 'ambient'"
        ),
        md(
            "## 1. One request through each data plane\n\nThe same page request, four times: no mesh, sidecars, "
            "ambient, and ambient with a waypoint for reviews. Bars are hops over "
            "time; hatched bars are L4 hops (ztunnel: it sees connections, not requests), drawn for the span of the "
            "call they carried, their label saying how long the connection itself was open; a black outline means "
            "the hop was reached over mutual TLS, and the label says whose identity it saw. On the maps, each arrow "
            "is numbered in the order the request took it, and the key beside the map names each hop and its time."
        ),
        code(
            "from meshlab import Lab\n"
            "from meshlab.viz import path_figure, topology_figure\n"
            "MODES = [('none', None), ('sidecar', None), ('ambient', None), ('ambient', ['reviews'])]\n"
            "figures, maps = [], []\n"
            "for mode, waypoints in MODES:\n"
            "    with Lab('bookinfo', mode=mode, waypoints=waypoints, verbose=False) as lab:\n"
            "        lab.request()                      # warm up: connections and TLS sessions\n"
            "        r = lab.request('client', 'http://productpage:9080/productpage')\n"
            "    label = mode + (' + waypoint for reviews' if waypoints else '')\n"
            "    figures.append(path_figure(r.path, title=f'{label}: {r.status} in {r.latency_ms:.1f} ms'))\n"
            "    maps.append(topology_figure(lab.topology, lab.mesh, r.path, title=f'{label}: where the proxies run'))\n"
            "print(f'{len(figures)} waterfalls and {len(maps)} maps drawn, one of each per data plane, below')"
        ),
        md(
            "**No mesh.** Each call goes straight from app to app (kube-proxy picks the pod); no proxy, and nothing "
            "is encrypted. The map shows where each pod runs; the waterfall, each hop's measured time."
        ),
        code("maps[0]"),
        code("figures[0]"),
        md(
            "**Sidecar mode.** A proxy in every pod (the map), and every call crosses two of them: the caller's "
            "sidecar (outbound) and the callee's (inbound), both parsing HTTP — two L7 bars around each app's in "
            "the waterfall — with mutual TLS between them."
        ),
        code("maps[1]"),
        code("figures[1]"),
        md(
            "**Ambient mode.** No proxy in the pods: one ztunnel per node (the map). Every call crosses the "
            "ztunnel of the caller's node and the one of the callee's node — hatched L4 bars: ztunnel carries "
            "connections and never parses HTTP — with mutual TLS between them (HBONE). When both pods share a "
            "node, it is the same ztunnel twice."
        ),
        code("maps[2]"),
        code("figures[2]"),
        md(
            "**Ambient with a waypoint for reviews.** Calls to reviews take one more hop, the waypoint, an L7 proxy "
            "that parses HTTP (and would apply reviews' routing rules); the ztunnel in front of reviews now sees "
            "the *waypoint's* identity. Calls to details and ratings are as in plain ambient mode."
        ),
        code("maps[3]"),
        code("figures[3]"),
        md(
            "## 2. The comparison, measured\n\n`compare` sends the same load (from the `client` pod to the "
            "product page) through each data plane in turn and measures everything in the table. It takes about "
            "half a minute."
        ),
        code(
            "from meshlab.compare import compare, format_table\n"
            "table = compare('bookinfo', requests=150, concurrency=4, warmup=20, log=lambda s: None)\n"
            "print(format_table(table))"
        ),
        md(
            "**Memory, three ways** (psutil, from Linux's page accounting). **RSS** counts every page a process "
            "has in memory, including the ones it shares with other processes (the Python interpreter, its "
            "libraries): summed over processes it counts shared pages many times. **USS** counts only the pages no "
            "other process shares — what stopping that process would free. **PSS** divides each shared page among "
            "the processes that share it, so PSS adds up to what a group of processes really uses. On the loopback "
            "backend the lab forks its pods and proxies from one template process (a fork server), so they share "
            "many pages: the table gives USS as each proxy's own cost, and RSS beside it."
        ),
        md(
            "**Read this table with its caveat.** Istio publishes ambient as *cheaper and faster* than sidecars "
            "(see section 4). Bookinfo's productpage opens a **new connection for every call**, and this lab's "
            "ztunnel is Python: each new connection costs it about as much CPU as a request costs a Python sidecar, "
            "so on this page load the ambient column's proxy CPU and added latency can come out close to — or "
            "above — sidecar's. That is a property of this lab's proxies, not of Istio's Rust ztunnel "
            "(`docs/status.md` has the lab's figures and profiles). Section 2b separates the two costs. The "
            "**ambient+waypoint** column can come out slower and costlier than sidecar too, where in Istio's "
            "figures a waypoint adds less than a sidecar pair (section 4): `compare` gives the namespace one "
            "waypoint, a single Python process that every call crosses, with a ztunnel connection on each side "
            "of it, and on a 2-core machine its queue is most of what it adds."
        ),
        code("from meshlab.viz import latency_figure, cost_figure\nlatency_figure(table)"),
        code("cost_figure(table)"),
        md(
            "**The same load on mininet, recorded.** The table above ran on this machine's loopback backend: "
            "every pod an address on one interface. On the **mininet** backend (root) every pod and node is a "
            "network namespace with real links and iptables interception, and the figures move (`docs/status.md` "
            "has both). Where the comparison above did not run on mininet, the cell below draws a **recording** of "
            "the same load made there (150 pages at concurrency 4 per data plane after 20 to warm up, as above), "
            "labelled with where and when it was recorded; `notebooks/dashboard/dashboard.ipynb` explores it "
            "request by request, hop by hop. In that recording the ambient + waypoint path adds **more** than the "
            "sidecars; in Istio's published figures it adds less (istio.io, *Sidecar or ambient?*). The lab's "
            "waypoint is one Python process that every call crosses, and its queue is most of what it adds."
        ),
        code(
            "from IPython.display import display\n"
            "from meshlab import replay\n"
            "if table['none']['backend'] != 'mininet':\n"
            "    recorded = replay.load('three-flows')\n"
            "    print(f'The same page load, {recorded.label}:')\n"
            "    display(latency_figure(recorded.compare()))"
        ),
        md(
            "## 2b. Cost per request, or cost per connection?\n\nA **sidecar** parses every HTTP request, twice "
            "per call (client side and server side): its cost grows with **requests**. A **ztunnel** never parses "
            "HTTP: it pays once per **connection** (an HBONE stream over its pooled mTLS connection, and a new "
            "TCP connection to the app) and then per byte. Below, the same 1000 requests on the small `minimal` "
            "topology (client → server), sent over 4 kept-alive connections, then with a new connection for each. "
            "The figures are proxy CPU per request, measured (psutil) on this machine; about 10 s."
        ),
        code(
            "from meshlab.compare import cost_shape\n"
            "shape = cost_shape('minimal', requests=1000, concurrency=4)\n"
            "print(f\"{'proxy CPU per request (µs)':<28}{'keep-alive':>12}{'new connection':>16}\")\n"
            "for mode, w in shape.items():\n"
            "    print(f\"{mode:<28}{w['keep-alive']['cpu_us_per_request']:>12.0f}\"\n"
            "          f\"{w['new connection per request']['cpu_us_per_request']:>16.0f}\")"
        ),
        md(
            "What to see: with kept-alive connections the ztunnels cost a fraction of the sidecars — Istio's "
            "direction ([Istio 1.24's performance page](https://istio.io/latest/docs/ops/deployment/"
            "performance-and-scalability/), 1000 HTTP requests per second of 1 KB: one **ztunnel ≈0.06 vCPU**, one "
            "**sidecar ≈0.20 vCPU**). With a new connection for every request, the ztunnels' cost "
            "jumps (more connections, same requests), while the sidecars' moves much less: they keep their own "
            "connections to each other and to the app alive and pay per request. **Where this lab differs from "
            "Istio:** the Python ztunnel's cost per connection is far higher than Rust ztunnel's, so in this lab "
            "the new-connection column can show ambient as expensive as sidecar, or more; in Istio, ambient stays "
            "the cheaper data plane on both workloads."
        ),
        md("## 3. Check your predictions"),
        code(
            "MODES3 = ('sidecar', 'ambient', 'ambient+waypoint')\n"
            "measured_hops = {m: table[m]['proxy_hops_per_call'] for m in MODES3}\n"
            "measured_l7 = {m: table[m]['l7_steps_per_call'] for m in MODES3}\n"
            "counts = {m: table[m]['proxy_count'] for m in table if m != 'none'}\n"
            "fewest = min(counts, key=counts.get)\n"
            "same = lambda got: (lambda mine: all(abs(mine[m] - got[m]) < 0.01 for m in MODES3))\n"
            "check('q1', my_q1, measured_hops, 'Proxies each call crossed, measured on every call of the load.',\n"
            "      ok=same(measured_hops))\n"
            "check('q2', my_q2, measured_l7, 'Proxies that parsed the HTTP request, per call.', ok=same(measured_l7))\n"
            "check('q3', my_q3, fewest, f'Proxy processes for the whole cluster: {counts}.')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA sidecar sits in *every* pod, so one call crosses the caller's "
            "sidecar and the callee's sidecar — both parse HTTP. In ambient mode a call crosses the ztunnel of the "
            "caller's node and the ztunnel of the callee's node — neither parses HTTP. A waypoint adds one L7 hop, "
            "shared by every pod of the service.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nsidecar: 2 proxies, 2 L7 steps; ambient: 2 proxies, 0 L7 steps; "
            "ambient + waypoint: 3 proxies, 1 L7 step — exactly Istio's table (*L7 processing steps per request: "
            "sidecar 2, ambient 1 with a waypoint*). Fewest processes: ambient, one ztunnel per node (2 here) "
            "instead of one sidecar per pod (7 here).\n</details>"
        ),
        md(
            "## 4. Istio's published numbers, next to ours\n\nIstio's *Sidecar or ambient?* page gives the average "
            "latency each data plane adds at p90/p99 (Envoy sidecars and waypoints, Rust ztunnel): "
            "**sidecar 0.63–0.88 ms, ambient 0.16–0.20 ms, waypoint 0.40–0.50 ms**. The proxies in this lab are "
            "Python, so our absolute numbers are larger; what transfers is the *shape*: which proxies a request "
            "crosses, where HTTP is parsed, how many proxy processes a cluster runs, and that every mesh hop is "
            "mutual TLS. The numbers in the table above are this machine's, measured, not Istio's — and their "
            "*order* can differ from Istio's: ambient close to sidecar on Bookinfo's new connection per call, "
            "the waypoint path above both. Why is under the table in section 2 (a Python ztunnel's cost per "
            "connection; one Python waypoint that every call crosses); `docs/status.md` measures both, "
            "including what a pair of Python relays that only copy bytes costs on this kind of machine."
        ),
        md(
            "Below, *added here* is what each data plane added to this run's latency over no mesh: the "
            "difference of percentiles, with a 95% bootstrap interval over the requests. '≈0' means the interval "
            "includes 0 — this run cannot tell the two apart. A percentile needs enough requests beyond it to be "
            "estimated at all: p90 needs 50 per mode, **p99 needs 500**, so with 150 requests p99 says *not "
            "estimated* instead of printing a number that is mostly noise."
        ),
        code(
            "from meshlab.telemetry.stats import describe_added\n"
            "for m in ('sidecar', 'ambient', 'ambient+waypoint'):\n"
            "    a = table[m]['added_latency']\n"
            "    print(f\"{m:<18} added here: p90 {describe_added(a['p90'])}; p99 {describe_added(a['p99'])}\")\n"
            "    print(f\"{'':<18} every mesh hop mTLS: {table[m]['all_mesh_hops_mtls']}\")"
        ),
        md(
            "## 5. Your task: a waypoint for one service, in YAML\n\nSection 1's fourth run gave reviews a "
            "waypoint with `Lab(..., waypoints=['reviews'])`. In a cluster it is two objects: a `Gateway` of class "
            "`istio-waypoint` (what `istioctl waypoint apply` writes) and the label `istio.io/use-waypoint` on the "
            "Service that should use it ([Istio: configure waypoint proxies](https://istio.io/latest/docs/ambient/"
            "usage/waypoint/)). Write both for the service your goal names (each learner gets one; with no learner "
            "set, reviews). The check applies your YAML to an ambient Bookinfo, loads the page 10 times and looks "
            "at which calls crossed a waypoint."
        ),
        *task_cells(
            "01-sidecar-vs-ambient",
            "waypoint-for-one-service",
            "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n",
        ),
        md(
            "<details><summary>Hint</summary>\n\nThe class is the one Istio installs for waypoints; the label's "
            "value is the Gateway's name. Label the Service, not the namespace: a namespace label sends every "
            "service of it through the waypoint.\n</details>\n\n<details><summary>Solution</summary>\n\n"
            "`istio-waypoint`, your service's name, `my-waypoint`. Only that service's calls take the extra hop "
            "(app → ztunnel → waypoint → ztunnel → app); the others stay app → ztunnel → ztunnel → app.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 6. Try it yourself: the control panel\n\nA control panel on a running Bookinfo, with no mesh yet: "
            "switch the mesh mode (watch which pods restart: the lab restarts them for you, where Istio "
            "leaves that to you, `kubectl rollout restart`), give reviews a waypoint (ambient only), send traffic, "
            "and read one request's path. The panel shows the Kubernetes/Istio YAML each change corresponds to.\n\n"
            "**Your task with it**, no code: the goal below names a data plane by what a call from productpage to "
            "reviews crosses (each learner gets one of three). Set it up with the panel, then set `answer = "
            "'done'` in the cell under the panel and run it: the check loads the page on the lab as you left it "
            "and counts the proxies on every call to reviews."
        ),
        code(
            "from meshlab.exercises import session\n"
            "from meshlab.tasks import TASKS\n"
            "ex = session('01-sidecar-vs-ambient')\n"
            "task = TASKS['panel-data-plane']\n"
            "print(ex.goal(task).split('\\n\\n')[0])"
        ),
        code(
            "from meshlab import Lab\n"
            "from meshlab.widgets import ControlPanel\n"
            "lab = Lab('bookinfo').start()\n"
            "ControlPanel(lab)"
        ),
        code(
            "answer = None   # 'done' once the panel has set up your data plane\n"
            "ex.task(TASKS['panel-data-plane'], lab, answer)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nSection 3's table: sidecar mode, 2 proxies and both parse HTTP; "
            "ambient mode, 2 proxies and neither does; ambient with a waypoint for reviews, 3 proxies, one of them "
            "parsing HTTP.\n</details>\n\n<details><summary>Solution</summary>\n\n3 proxies, 1 parsing HTTP: mode "
            "*ambient*, then the waypoint for reviews. 2 and 2: mode *sidecar* (the lab restarts every pod with "
            "its sidecar, as `kubectl rollout restart` would after the label). 2 and 0: mode *ambient*, no waypoint.\n</details>"
        ),
        md(
            "The lab keeps running for the panel. When you are done with it, stop it by running the cell below "
            "without its `#` (it also stops by itself when the kernel shuts down; *Run All* leaves it running, "
            "so the panel above stays alive)."
        ),
        code("# lab.stop()"),
        md(
            "## What you learned\n\n- Sidecar mode puts an L7 proxy in every pod: two L7 steps per call, one proxy "
            "process per pod.\n- Ambient mode moves mTLS and identity to one L4 ztunnel per node (HBONE: HTTP/2 "
            "CONNECT over mTLS) and parses HTTP only where you ask for it, in a shared waypoint.\n- Behind a "
            "waypoint, the destination sees the *waypoint's* identity.\n- A sidecar's cost grows with "
            "**requests** (it parses each one), a ztunnel's with **connections** (§2b): on kept-alive "
            "connections the ztunnels cost a fraction of the sidecars, as in Istio; with a new connection per "
            "request this lab's Python ztunnel pays much more.\n- Every number here was measured on real "
            "processes and sockets; the lab labels what it simplifies.\n\n"
            + next_link(NAME, "L7 in ambient mode")
        ),
    ]
