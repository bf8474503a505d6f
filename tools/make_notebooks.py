"""Write the notebooks in notebooks/ from the cell lists below (so they diff and review as code).

    .venv/bin/python tools/make_notebooks.py
"""

import hashlib
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NB = Path(__file__).resolve().parent.parent / "notebooks"

TITLES = [("00-start-here", "00 start here"), ("01-sidecar-vs-ambient", "01 sidecar vs ambient"),
          ("02-waypoints", "02 waypoints"), ("03-mtls", "03 mTLS"), ("04-retries-and-timeouts", "04 retries and timeouts")]


def nav(current: str) -> str:
    """The navigation line: this notebook in bold, the others as links."""
    return "Navigation: " + " · ".join(f"**{title}**" if name == current else f"[{title}]({name}.ipynb)"
                                       for name, title in TITLES)


def check_setup(notebook: str) -> str:
    """The setup cell's lines that give a notebook its ``check`` (meshlab.exercises): a prediction
    left at None is "not answered yet" (so the notebook runs headless); a question's first answered
    check stands, and the progress file records it."""
    return ("from meshlab.exercises import session\n"
            f"check = session('{notebook}').show   # check('q1', my_q1, measured, why): ✔ or ✘, then why\n")


def task_cells(notebook: str, task: str, start_lab: str) -> list:
    """A task's two code cells: its lab and goal (with the learner's own parameters; the cell runs
    alone after a restart), then the answer and the check against the running lab (meshlab.exercises)."""
    return [new_code_cell("from meshlab import Lab\n"
                          "from meshlab.exercises import session\n"
                          "from meshlab.tasks import TASKS\n"
                          f"ex = session({notebook!r})\n"
                          f"task = TASKS[{task!r}]\n"
                          + start_lab + "print(ex.begin(task, lab))   # the lab as the task starts, and your goal"),
            new_code_cell("answer = None   # the skeleton as a '''...''' string, every ___ filled in\n"
                          "ex.task(task, lab, answer)")]


def start_here():
    md, code = new_markdown_cell, new_code_cell
    return [
        md("# 00 · Start here\n\n"
           "**Goal:** bring up a small Kubernetes-like cluster running Istio's *Bookinfo* sample, send it real "
           "HTTP traffic, and read each request's **path** hop by hop — with no mesh yet. Every later exercise "
           "adds a mesh (sidecars, or ztunnels and waypoints) to this same cluster and compares against what you "
           "measure here.\n\n"
           + nav("00-start-here")),
        md("## 1. Environment check\n\nWhich backend runs the lab here, and why. On Binder (no root) it is always "
           "the **loopback** backend: every pod is its own process with its own address in 127.0.0.0/8."),
        code("import sys, platform\n"
             "import meshlab\n"
             "from meshlab.backends import mininet_status\n"
             "print('Python', platform.python_version(), '· meshlab', meshlab.__version__)\n"
             "ok, why = mininet_status()\n"
             "print('mininet backend:', 'available on this machine (these notebooks use loopback, the default '\n"
             "      \"everywhere; pass backend='mininet' to Lab to use it)\" if ok else f'not available ({why}): the '\n"
             "      'notebooks use the loopback backend')"),
        md("## 2. Start Bookinfo\n\nThe topology file `topologies/bookinfo.yaml` describes the cluster: two nodes, "
           "the four Bookinfo services on port 9080, reviews in three versions, and a `client` pod to send from. "
           "Starting the lab starts one OS process per pod."),
        code("from meshlab import Lab\n"
             "lab = Lab('bookinfo').start()\n"
             "print(f'up in {lab.startup_s:.2f} s (measured)')\n"
             "for row in lab.pods():\n"
             "    print(f\"{row['pod']:<18} {row['node']:<7} {row['ip']:<15} sa {row['service_account']:<22} \"\n"
             "          f\"ports {row['ports']}  pid {row['pid']}\")"),
        md("Each pod runs as a Kubernetes **service account** (`sa`): in a mesh that is its identity, the "
           "`spiffe://cluster.local/ns/<namespace>/sa/<service account>` in its certificate. The `client` pod "
           "runs as `curl`, as Istio's curl sample does (the getting-started policies name it), so the paths "
           "below say *mTLS from curl* for the hops its requests reach."),
        md("## 3. One request, hop by hop\n\nThe client asks for the product page. Each app records a span for the "
           "request it handled; the lab puts them back together into the request's **path**. Times are measured "
           "(each app also has a configured service time of 1 ms, which is emulated work)."),
        code("r = lab.request('client', 'http://productpage:9080/productpage')\nr"),
        md("The same request as a **waterfall**: a bar per hop, over the time the client waited, indented by who "
           "called whom. Every time is measured (each app also spends its configured 1 ms of emulated work)."),
        code("from meshlab.viz import path_figure\n"
             "path_figure(r.path, title=f'the first request: {r.status} in {r.latency_ms:.1f} ms, no mesh')"),
        md("### Predict, then run\n\n"
           "productpage calls `reviews` through its Kubernetes service, which has **three** pods (v1, v2, v3) and "
           "no routing rules. Out of 60 page loads, how many *different* reviews pods do you expect to answer? "
           "Put your answer in `my_q1`, then run the next two cells."),
        code(check_setup('00-start-here') +
             "my_q1 = None   # your prediction: how many different reviews pods answer? (a number)"),
        code("res = lab.load(requests=60, concurrency=2)\n"
             "for g in res.path_groups():\n"
             "    print(f\"{g['count']:>3} x  \" + ' -> '.join(h['name'] for h in g['hops']))\n"
             "answered = {h['name'] for g in res.path_groups() for h in g['hops'] if h['name'].startswith('reviews-')}\n"
             "print()\n"
             "check('q1', my_q1, len(answered), f'{len(answered)} reviews pods answered: {sorted(answered)}.')"),
        md("<details><summary>Hint</summary>\n\nWith no mesh, kube-proxy picks one of the service's ready pods "
           "for every new connection, at random. productpage opens a new connection for every call.\n</details>\n\n"
           "<details><summary>Solution</summary>\n\nAll three. 60 calls, each to one of 3 pods at random: the "
           "chance that some pod is never picked is about 3 × (2/3)<sup>60</sup>, one in ten billion.\n</details>\n\n"
           "<details><summary>Why do only some paths reach ratings?</summary>\n\nreviews v1 never calls ratings; v2 "
           "(black stars) and v3 (red stars) do — exactly as in Istio's Bookinfo.\n</details>"),
        md("## 4. Latency of the whole page"),
        code("s = res.summary()\n"
             "print('requests:', s['requests'])\n"
             "print('latency (ms):', {k: s['latency_ms'][k] for k in ('p50', 'p90', 'p99')})"),
        md("## 5. Stop the lab\n\nStopping ends every pod process and removes everything the lab created. "
           "(If the kernel dies instead, the pods notice and exit on their own; `meshlab clean` removes any "
           "leftover state.)"),
        code("lab.stop()\nlab"),
        md("## 6. Your first task: one version of reviews\n\nEvery later notebook changes the cluster with "
           "Kubernetes and Istio YAML, as `kubectl apply` would. Try it now, on a fresh lab with no mesh: send "
           "every call to reviews to one version (the goal below names yours: each learner gets their own, set "
           "by `MESHLAB_LEARNER` or JupyterHub's user name; with neither, Istio's v3). Copy the skeleton into "
           "`answer`, fill in every `___`, and run the check. It applies your YAML to the running lab, loads the "
           "product page 20 times and reads off each request's path which reviews pod served it. A blank or wrong "
           "answer fails and says what went wrong; your attempts are recorded in `meshlab-progress.jsonl` beside "
           "this notebook."),
        *task_cells("00-start-here", "reviews-to-one-version", "lab = Lab('bookinfo', verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nA VirtualService is read by the mesh's proxies, and there are none "
           "yet: the namespace label enrolls the pods. Istio has two: `istio-injection: enabled` (a sidecar in "
           "every pod, which parses HTTP) and `istio.io/dataplane-mode: ambient` (ztunnel, which does not: notebook "
           "02 adds the waypoint that would).\n</details>\n\n"
           "<details><summary>Solution</summary>\n\n`istio-injection`, `enabled`, and your version (`v3` for "
           "Istio's own `virtual-service-reviews-v3.yaml`). The pods restart with their sidecars — injection "
           "happens when a pod is created — and their sidecars apply the route. With the ambient label the check "
           "fails and says why.\n</details>"),
        code("lab.stop()"),
        md("## 7. Your second task: a mesh with no pod restarts\n\nIstio's page *Sidecar or ambient?* puts "
           "onboarding this way: sidecar mode means \"label a namespace and restart all pods\", ambient mode "
           "\"label a namespace – no pod restart required\" "
           "([dataplane modes](https://istio.io/latest/docs/overview/dataplane-modes/)). Bring the namespace into "
           "the mesh so that every call between pods is mutual TLS, without restarting a pod. The check notes "
           "every pod's process before applying your YAML, then loads the page 10 times and looks at every "
           "call's hops."),
        *task_cells("00-start-here", "mesh-without-restarts", "lab = Lab('bookinfo', verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nOne label does it. Which of the two modes puts the proxy *outside* "
           "the pod?\n</details>\n\n<details><summary>Solution</summary>\n\n`istio.io/dataplane-mode: ambient`: "
           "the node's ztunnel starts carrying the pods' connections (HBONE, mutual TLS) and no pod is touched. "
           "`istio-injection: enabled` also gives mutual TLS, but every pod is recreated with its sidecar, and "
           "the check names them.\n</details>"),
        code("lab.stop()"),
        md("## What you learned\n\n- A *topology* is data; a *lab* runs it on a *backend*, one process per pod.\n"
           "- A request's *path* is rebuilt from the spans each hop emitted, with measured times.\n"
           "- Without a mesh, kube-proxy spreads connections over a service's pods at random, and the apps' own "
           "code decides timeouts and retries.\n"
           "- A VirtualService does nothing without a proxy that parses HTTP to apply it.\n"
           "- A namespace joins the mesh by a label: sidecar injection recreates every pod, ambient enrollment "
           "touches none.\n\nNext: add a mesh and see what changes on the same paths."),
    ]


def sidecar_vs_ambient():
    md, code = new_markdown_cell, new_code_cell
    return [
        md("# 01 · Sidecar vs ambient\n\n"
           "**Goal:** send the same requests through Istio's three traffic flows — app → sidecar → sidecar → app; "
           "app → ztunnel → ztunnel → app; app → ztunnel → waypoint → ztunnel → app — watch each request cross "
           "the proxies, and fill in Istio's *Sidecar or ambient?* table with numbers measured right here.\n\n"
           + nav("01-sidecar-vs-ambient")),
        md("## Predict first\n\nBefore running anything, write down your guesses. For one call from productpage to "
           "reviews in Bookinfo:\n\n1. How many proxies does it cross in **sidecar** mode? In **ambient** mode? With a "
           "**waypoint**?\n2. In how many of those proxies is the HTTP request parsed (L7 processing)?\n3. Which mode "
           "runs the **fewest proxy processes** for the whole Bookinfo cluster?"),
        code(check_setup('01-sidecar-vs-ambient') + "\n"
             "my_q1 = None   # proxies one call crosses, per mode: a dict {'sidecar': ?, 'ambient': ?, 'ambient+waypoint': ?}\n"
             "my_q2 = None   # L7 processing steps per call, per mode: a dict like the one above\n"
             "my_q3 = None   # the mode that runs the fewest proxy processes: 'sidecar' or 'ambient'"),
        md("## 1. One request through each data plane\n\nThe same page request, four times: no mesh, sidecars, "
           "ambient, and ambient with a waypoint for reviews. Bars are hops over "
           "time; hatched bars are L4 hops (ztunnel: it sees connections, not requests), drawn for the span of the "
           "call they carried, their label saying how long the connection itself was open; a black outline means "
           "the hop was reached over mutual TLS, and the label says whose identity it saw. On the maps, each arrow "
           "is numbered in the order the request took it, and the key beside the map names each hop and its time."),
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
             "print(f'{len(figures)} waterfalls and {len(maps)} maps drawn, one of each per data plane, below')"),
        md("**No mesh.** Each call goes straight from app to app (kube-proxy picks the pod); no proxy, and nothing "
           "is encrypted. The map shows where each pod runs; the waterfall, each hop's measured time."),
        code("maps[0]"),
        code("figures[0]"),
        md("**Sidecar mode.** A proxy in every pod (the map), and every call crosses two of them: the caller's "
           "sidecar (outbound) and the callee's (inbound), both parsing HTTP — two L7 bars around each app's in "
           "the waterfall — with mutual TLS between them."),
        code("maps[1]"),
        code("figures[1]"),
        md("**Ambient mode.** No proxy in the pods: one ztunnel per node (the map). Every call crosses the "
           "ztunnel of the caller's node and the one of the callee's node — hatched L4 bars: ztunnel carries "
           "connections and never parses HTTP — with mutual TLS between them (HBONE). When both pods share a "
           "node, it is the same ztunnel twice."),
        code("maps[2]"),
        code("figures[2]"),
        md("**Ambient with a waypoint for reviews.** Calls to reviews take one more hop, the waypoint, an L7 proxy "
           "that parses HTTP (and would apply reviews' routing rules); the ztunnel in front of reviews now sees "
           "the *waypoint's* identity. Calls to details and ratings are as in plain ambient mode."),
        code("maps[3]"),
        code("figures[3]"),
        md("## 2. The comparison, measured\n\n`compare` sends the same load (from the `client` pod to the "
           "product page) through each data plane in turn and measures everything in the table. It takes about "
           "half a minute."),
        code("from meshlab.compare import compare, format_table\n"
             "table = compare('bookinfo', requests=150, concurrency=4, warmup=20, log=lambda s: None)\n"
             "print(format_table(table))"),
        md("**Memory, three ways** (psutil, from Linux's page accounting). **RSS** counts every page a process "
           "has in memory, including the ones it shares with other processes (the Python interpreter, its "
           "libraries): summed over processes it counts shared pages many times. **USS** counts only the pages no "
           "other process shares — what stopping that process would free. **PSS** divides each shared page among "
           "the processes that share it, so PSS adds up to what a group of processes really uses. On the loopback "
           "backend the lab forks its pods and proxies from one template process (a fork server), so they share "
           "many pages: the table gives USS as each proxy's own cost, and RSS beside it."),
        md("**Read this table with its caveat.** Istio publishes ambient as *cheaper and faster* than sidecars "
           "(see section 4). Bookinfo's productpage opens a **new connection for every call**, and this lab's "
           "ztunnel is Python: each new connection costs it about as much CPU as a request costs a Python sidecar, "
           "so on this page load the ambient column's proxy CPU and added latency can come out close to — or "
           "above — sidecar's. That is a property of this lab's proxies, not of Istio's Rust ztunnel "
           "(`docs/status.md` has the lab's figures and profiles). Section 2b separates the two costs."),
        code("from meshlab.viz import latency_figure, cost_figure\nlatency_figure(table)"),
        code("cost_figure(table)"),
        md("## 2b. Cost per request, or cost per connection?\n\nA **sidecar** parses every HTTP request, twice "
           "per call (client side and server side): its cost grows with **requests**. A **ztunnel** never parses "
           "HTTP: it pays once per **connection** (an HBONE stream over its pooled mTLS connection, and a new "
           "TCP connection to the app) and then per byte. Below, the same 1000 requests on the small `minimal` "
           "topology (client → server), sent over 4 kept-alive connections, then with a new connection for each. "
           "The figures are proxy CPU per request, measured (psutil) on this machine; about 10 s."),
        code("from meshlab.compare import cost_shape\n"
             "shape = cost_shape('minimal', requests=1000, concurrency=4)\n"
             "print(f\"{'proxy CPU per request (µs)':<28}{'keep-alive':>12}{'new connection':>16}\")\n"
             "for mode, w in shape.items():\n"
             "    print(f\"{mode:<28}{w['keep-alive']['cpu_us_per_request']:>12.0f}\"\n"
             "          f\"{w['new connection per request']['cpu_us_per_request']:>16.0f}\")"),
        md("What to see: with kept-alive connections the ztunnels cost a fraction of the sidecars — Istio's "
           "direction ([Istio 1.24's performance page](https://istio.io/latest/docs/ops/deployment/"
           "performance-and-scalability/), 1000 HTTP requests per second of 1 KB: one **ztunnel ≈0.06 vCPU**, one "
           "**sidecar ≈0.20 vCPU**). With a new connection for every request, the ztunnels' cost "
           "jumps (more connections, same requests), while the sidecars' moves much less: they keep their own "
           "connections to each other and to the app alive and pay per request. **Where this lab differs from "
           "Istio:** the Python ztunnel's cost per connection is far higher than Rust ztunnel's, so in this lab "
           "the new-connection column can show ambient as expensive as sidecar, or more; in Istio, ambient stays "
           "the cheaper data plane on both workloads."),
        md("## 3. Check your predictions"),
        code("MODES3 = ('sidecar', 'ambient', 'ambient+waypoint')\n"
             "measured_hops = {m: table[m]['proxy_hops_per_call'] for m in MODES3}\n"
             "measured_l7 = {m: table[m]['l7_steps_per_call'] for m in MODES3}\n"
             "counts = {m: table[m]['proxy_count'] for m in table if m != 'none'}\n"
             "fewest = min(counts, key=counts.get)\n"
             "same = lambda got: (lambda mine: all(abs(mine[m] - got[m]) < 0.01 for m in MODES3))\n"
             "check('q1', my_q1, measured_hops, 'Proxies each call crossed, measured on every call of the load.',\n"
             "      ok=same(measured_hops))\n"
             "check('q2', my_q2, measured_l7, 'Proxies that parsed the HTTP request, per call.', ok=same(measured_l7))\n"
             "check('q3', my_q3, fewest, f'Proxy processes for the whole cluster: {counts}.')"),
        md("<details><summary>Hint</summary>\n\nA sidecar sits in *every* pod, so one call crosses the caller's "
           "sidecar and the callee's sidecar — both parse HTTP. In ambient mode a call crosses the ztunnel of the "
           "caller's node and the ztunnel of the callee's node — neither parses HTTP. A waypoint adds one L7 hop, "
           "shared by every pod of the service.\n</details>\n\n"
           "<details><summary>Solution</summary>\n\nsidecar: 2 proxies, 2 L7 steps; ambient: 2 proxies, 0 L7 steps; "
           "ambient + waypoint: 3 proxies, 1 L7 step — exactly Istio's table (*L7 processing steps per request: "
           "sidecar 2, ambient 1 with a waypoint*). Fewest processes: ambient, one ztunnel per node (2 here) "
           "instead of one sidecar per pod (7 here).\n</details>"),
        md("## 4. Istio's published numbers, next to ours\n\nIstio's *Sidecar or ambient?* page gives the average "
           "latency each data plane adds at p90/p99 (Istio 1.22, Envoy and Rust ztunnel, 1 KB at 1000 rps): "
           "**sidecar 0.63–0.88 ms, ambient 0.16–0.20 ms, waypoint 0.40–0.50 ms**. The proxies in this lab are "
           "Python, so our absolute numbers are larger; what transfers is the *shape*: which proxies a request "
           "crosses, where HTTP is parsed, how many proxy processes a cluster runs, and that every mesh hop is "
           "mutual TLS. The numbers in the table above are this machine's, measured, not Istio's."),
        md("Below, *added here* is what each data plane added to this run's latency over no mesh: the "
           "difference of percentiles, with a 95% bootstrap interval over the requests. '≈0' means the interval "
           "includes 0 — this run cannot tell the two apart. A percentile needs enough requests beyond it to be "
           "estimated at all: p90 needs 50 per mode, **p99 needs 500**, so with 150 requests p99 says *not "
           "estimated* instead of printing a number that is mostly noise."),
        code("from meshlab.telemetry.stats import describe_added\n"
             "for m in ('sidecar', 'ambient', 'ambient+waypoint'):\n"
             "    a = table[m]['added_latency']\n"
             "    print(f\"{m:<18} added here: p90 {describe_added(a['p90'])}; p99 {describe_added(a['p99'])}\")\n"
             "    print(f\"{'':<18} every mesh hop mTLS: {table[m]['all_mesh_hops_mtls']}\")"),
        md("## 5. Your task: a waypoint for one service, in YAML\n\nSection 1's fourth run gave reviews a "
           "waypoint with `Lab(..., waypoints=['reviews'])`. In a cluster it is two objects: a `Gateway` of class "
           "`istio-waypoint` (what `istioctl waypoint apply` writes) and the label `istio.io/use-waypoint` on the "
           "Service that should use it ([Istio: configure waypoint proxies](https://istio.io/latest/docs/ambient/"
           "usage/waypoint/)). Write both for the service your goal names (each learner gets one; with no learner "
           "set, reviews). The check applies your YAML to an ambient Bookinfo, loads the page 10 times and looks "
           "at which calls crossed a waypoint."),
        *task_cells("01-sidecar-vs-ambient", "waypoint-for-one-service",
                    "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nThe class is the one Istio installs for waypoints; the label's "
           "value is the Gateway's name. Label the Service, not the namespace: a namespace label sends every "
           "service of it through the waypoint.\n</details>\n\n<details><summary>Solution</summary>\n\n"
           "`istio-waypoint`, your service's name, `my-waypoint`. Only that service's calls take the extra hop "
           "(app → ztunnel → waypoint → ztunnel → app); the others stay app → ztunnel → ztunnel → app.\n</details>"),
        code("lab.stop()"),
        md("## 6. Try it yourself: the control panel\n\nA control panel on a running Bookinfo, with no mesh yet: "
           "switch the mesh mode (watch which pods restart), give reviews a waypoint (ambient only), send traffic, "
           "and read one request's path. The panel shows the Kubernetes/Istio YAML each change corresponds to.\n\n"
           "**Your task with it**, no code: the goal below names a data plane by what a call from productpage to "
           "reviews crosses (each learner gets one of three). Set it up with the panel, then set `answer = "
           "'done'` in the cell under the panel and run it: the check loads the page on the lab as you left it "
           "and counts the proxies on every call to reviews."),
        code("from meshlab.exercises import session\n"
             "from meshlab.tasks import TASKS\n"
             "ex = session('01-sidecar-vs-ambient')\n"
             "task = TASKS['panel-data-plane']\n"
             "print(ex.goal(task).split('\\n\\n')[0])"),
        code("from meshlab import Lab\n"
             "from meshlab.widgets import ControlPanel\n"
             "lab = Lab('bookinfo').start()\n"
             "ControlPanel(lab)"),
        code("answer = None   # 'done' once the panel has set up your data plane\n"
             "ex.task(TASKS['panel-data-plane'], lab, answer)"),
        md("<details><summary>Hint</summary>\n\nSection 3's table: sidecar mode, 2 proxies and both parse HTTP; "
           "ambient mode, 2 proxies and neither does; ambient with a waypoint for reviews, 3 proxies, one of them "
           "parsing HTTP.\n</details>\n\n<details><summary>Solution</summary>\n\n3 proxies, 1 parsing HTTP: mode "
           "*ambient*, then the waypoint for reviews. 2 and 2: mode *sidecar* (every pod restarts with its "
           "sidecar). 2 and 0: mode *ambient*, no waypoint.\n</details>"),
        md("The lab keeps running for the panel. When you are done with it, stop it by running the cell below "
           "without its `#` (it also stops by itself when the kernel shuts down; *Run All* leaves it running, "
           "so the panel above stays alive)."),
        code("# lab.stop()"),
        md("## What you learned\n\n- Sidecar mode puts an L7 proxy in every pod: two L7 steps per call, one proxy "
           "process per pod.\n- Ambient mode moves mTLS and identity to one L4 ztunnel per node (HBONE: HTTP/2 "
           "CONNECT over mTLS) and parses HTTP only where you ask for it, in a shared waypoint.\n- Behind a "
           "waypoint, the destination sees the *waypoint's* identity.\n- Every number here was measured on real "
           "processes and sockets; the lab labels what it simplifies."),
    ]


def waypoints():
    md, code = new_markdown_cell, new_code_cell
    return [
        md("# 02 · Waypoints: L7 in ambient mode\n\n"
           "**Goal:** see why, in ambient mode, Istio's HTTP features — routing rules, L7 authorization — do "
           "nothing until a **waypoint** carries a service's traffic; add one as Istio YAML and measure what "
           "changes: an extra hop, a different identity at the destination, and routing that works. Then meet "
           "the classic pitfall: an L7 authorization policy bound to a workload, which ztunnel enforces by "
           "denying everything.\n\n" + nav("02-waypoints")),
        md("## 0. Setup\n\nHelpers for this notebook: `check` compares your prediction with what the lab "
           "measured (leave a prediction at `None` and it just says *not answered yet*); `served_by` counts which "
           "reviews pod served each page of a load; `call_to` picks out the hops of productpage's call to a "
           "service; `show` shows hops, as a table, with the identity each one saw."),
        code(
             "from collections import Counter\n"
             "from IPython.display import display\n"
             "from meshlab import Lab\n"
             "from meshlab.tables import Table\n"
             "from meshlab.viz import path_figure, topology_figure\n"
             "PAGE = 'http://productpage:9080/productpage'\n"
             "NO_REVIEWS = 'Error fetching product reviews'      # what productpage shows when reviews fail\n\n"
             + check_setup('02-waypoints') + "\n\n"
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
             "                   for h in hops]))"),
        md("## 1. Bookinfo in ambient mode, no waypoint\n\nEvery pod is enrolled in ambient mode: one ztunnel per "
           "node carries its pods' connections, over HBONE (HTTP/2 CONNECT inside mutual TLS, port 15008)."),
        code("lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"
             "r = lab.request('client', PAGE)\n"
             "r"),
        md("Every call goes app → ztunnel (outbound, the caller's node) ⇒ ztunnel (inbound, the callee's node) → "
           "app. The ztunnel hops are **L4**: they carry a connection, and have no HTTP status to show — ztunnel "
           "never parses HTTP."),
        md("## 2. A routing rule with nobody to apply it\n\nIstio's *traffic shifting* task ends by sending all of "
           "reviews' traffic to v3 (red stars). That takes the subsets of a DestinationRule and a VirtualService "
           "(the task's own files are in `topologies/samples/bookinfo/`). In ambient mode Istio recommends the Gateway "
           "API's HTTPRoute for this; VirtualService works with waypoints but is still Alpha there. The lab reads "
           "VirtualService."),
        code("REVIEWS_SUBSETS = '''\\\n"
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
             "'''"),
        md("### Predict, then run\n\nYou apply both to the running lab, then load the page 60 times. How many "
           "of those pages does **reviews-v3** serve?\n\n- **a** all 60\n- **b** about a third, as before\n"
           "- **c** none"),
        code("my_q1 = None   # 'a', 'b' or 'c'"),
        code("print(lab.apply([REVIEWS_SUBSETS, ALL_V3]))\n"
             "for w in lab.warnings:\n"
             "    print('warning:', w)\n"
             "before = lab.load(requests=60, concurrency=2, progress=False)\n"
             "print('pages served by:', served_by(before))"),
        code("n3 = served_by(before).get('reviews-v3-0', 0)\n"
             "check('q1', my_q1, 'a' if n3 == 60 else 'c' if n3 == 0 else 'b',\n"
             "      'With no waypoint, the only proxies on the path are ztunnels, and ztunnel never parses HTTP: it does '\n"
             "      'not see requests, so it cannot route them by a VirtualService. Each connection still goes to any '\n"
             "      'reviews pod, as with no mesh. The lab warned about exactly this when you applied it.')"),
        md("<details><summary>Hint</summary>\n\nLook at the path in section 1: which proxies are on the call from "
           "productpage to reviews, and at which layer do they work?\n</details>\n\n"
           "<details><summary>Solution</summary>\n\n**b**. A VirtualService is L7 configuration: Envoy applies it "
           "in a client's sidecar or in the destination's waypoint. In ambient mode without a waypoint there is "
           "neither, so Istio accepts the object and nothing enforces it. Its ambient docs list HTTP routing, "
           "retries, timeouts, fault injection and L7 authorization as features that need a waypoint.\n</details>"),
        md("## 3. Add a waypoint — as YAML\n\nIn Istio a waypoint is a Kubernetes Gateway with "
           "`gatewayClassName: istio-waypoint`, which istiod turns into a proxy deployment; a service uses it once "
           "the service (or its namespace) carries the label `istio.io/use-waypoint: <gateway name>`. "
           "(`istioctl waypoint apply` writes the Gateway; the lab's shortcut for both is "
           "`lab.set_waypoints(['reviews'])`.) We apply the two pieces one at a time — the label first."),
        code("USE_WAYPOINT = '''\\\n"
             "apiVersion: v1\n"
             "kind: Service\n"
             "metadata:\n"
             "  name: reviews\n"
             "  namespace: default\n"
             "  labels:\n"
             "    istio.io/use-waypoint: waypoint\n"
             "'''"),
        md("### Predict, then run\n\nOnly the label, no Gateway yet. Does productpage's call to reviews now pass "
           "through a waypoint?"),
        code("my_q2 = None   # True or False"),
        code("print(lab.apply(USE_WAYPOINT))\n"
             "for w in lab.warnings:\n"
             "    print('warning:', w)\n"
             "hops = call_to(lab.request('client', PAGE).path, 'reviews-')\n"
             "print('productpage -> reviews:', ' -> '.join(h.role for h in hops))"),
        code("check('q2', my_q2, any(h.role == 'waypoint' for h in hops),\n"
             "      'A label naming a waypoint that no Gateway defines is not followed: as in Istio, ztunnel sends the '\n"
             "      'traffic straight to the destination, and the lab warns. Nothing breaks — and nothing L7 happens.')"),
        md("<details><summary>Hint</summary>\n\nThe label is a pointer. What is there to point at?\n</details>"),
        md("Now the Gateway itself, as `istioctl waypoint generate --for service` prints it:"),
        code("WAYPOINT = '''\\\n"
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
             "print('productpage -> details:', ' -> '.join(h.role for h in call_to(r.path, 'details-')))"),
        md("Only reviews opted in, so only calls to reviews take the extra hop: app → ztunnel → **waypoint** → "
           "ztunnel → app. The map shows the waypoint as a pod of its own; the waterfall shows each hop's time "
           "(measured) and, outlined, the hops reached over mutual TLS with the identity each one saw."),
        code("topology_figure(lab.topology, lab.mesh, r.path, title='reviews behind a waypoint: one page request')"),
        code("path_figure(r.path, title=f'one page: {r.status} in {r.latency_ms:.1f} ms (measured)')"),
        md("## 4. Who is calling reviews now?\n\nThe waypoint ends the HBONE tunnel from productpage's ztunnel, "
           "handles the HTTP request, and opens a tunnel of its own to the reviews pod's ztunnel — with its own "
           "certificate.\n\n### Predict, then run\n\nWhich SPIFFE identity does the ztunnel in front of the "
           "reviews pod see on this call?"),
        code("my_q3 = None   # a SPIFFE id, e.g. 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage'"),
        code("show(hops)\n"
             "seen_by_reviews = hops[-2].identity      # the hop before the reviews app: its ztunnel, inbound"),
        code("check('q3', my_q3, seen_by_reviews,\n"
             "      \"Behind a waypoint the destination sees the waypoint's identity, not productpage's: the waypoint is \"\n"
             "      \"the one that connected. The waypoint saw productpage's identity, so that is where policies about \"\n"
             "      \"productpage belong. An L4 policy on the reviews pods (enforced by their ztunnel) that allows only \"\n"
             "      \"sa/bookinfo-productpage would now shut the waypoint out: Istio's ambient guide adds \"\n"
             "      \"cluster.local/ns/default/sa/waypoint to such policies.\")"),
        md("<details><summary>Hint</summary>\n\nmTLS proves who is at the *other end of this connection*. Which "
           "proxy opened the connection that arrives at the reviews pod's ztunnel?\n</details>\n\n"
           "<details><summary>Solution</summary>\n\n`spiffe://cluster.local/ns/default/sa/waypoint` — the "
           "waypoint runs as its own service account (named after the Gateway) in the service's namespace.\n"
           "</details>"),
        md("## 5. Now the routing rule takes effect\n\nThe VirtualService from section 2 is still in force; "
           "nothing was re-applied. Load the page again:"),
        code("after = lab.load(requests=60, concurrency=2, progress=False)\n"
             "print('pages served by:', served_by(after))\n"
             "print(lab.apply(ALL_V3), '- warnings now:', lab.warnings or 'none')"),
        md("### Predict, then run\n\nThe traffic-shifting task's first step: half of reviews' traffic to v1, half "
           "to v3 (`weight: 50` each). Out of 100 page loads, how many will reviews-v3 serve?"),
        code("my_q4 = None   # a number from 0 to 100"),
        code("HALF_V3 = '''\\\n"
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
             "print('pages served by:', served_by(split))"),
        code("n3 = served_by(split).get('reviews-v3-0', 0)\n"
             "check('q4', my_q4, n3,\n"
             "      'The waypoint picks a route by weight for every request: 50 on average. 100 pages are 100 coin '\n"
             "      'tosses, so anything from about 40 to 60 is usual (two standard deviations is 10 either side).',\n"
             "      ok=lambda a: abs(a - n3) <= 15)"),
        md("<details><summary>Solution</summary>\n\nAbout 50, give or take 10. Istio's task page warns that you "
           "\"may need to refresh 15 or more times\" to see the change in a browser for the same reason.\n"
           "</details>\n\nThis lab's part is done: stop it before starting the next one (each lab is a dozen "
           "processes)."),
        code("lab.stop()"),
        md("## 6. L7 authorization: selector or targetRefs?\n\nA fresh Bookinfo, with reviews' waypoint from the "
           "start (`waypoints=['reviews']` deploys the same Gateway and label as section 3).\n\n"
           "ztunnel checks authorization when a connection opens and, as Istio's does, checks the open "
           "connections again when a policy changes, closing those no longer allowed (istio/ztunnel#772) — so a "
           "policy applied below also cuts connections the waypoint keeps open to the reviews pods."),
        code("lab = Lab('bookinfo', mode='ambient', waypoints=['reviews'], verbose=False).start()"),
        md("Istio's *Authorization for HTTP traffic* task lets reviews be read with GET only (its `reviews-viewer` "
           "also names productpage's principal; we leave that out). Here it is bound as that sidecar-mode task "
           "binds it — to the reviews pods, by a `selector`:"),
        code("REVIEWS_GET_ONLY = '''\\\n"
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
             "'''"),
        md("### Predict, then run\n\nproductpage calls reviews with GET. With this policy applied, does the page "
           "still show the reviews?"),
        code("my_q5 = None   # 'allowed' or 'denied'"),
        code("print(lab.apply(REVIEWS_GET_ONLY))\n"
             "for w in lab.warnings:\n"
             "    print('warning:', w)\n"
             "r = lab.request('client', PAGE)\n"
             "print('page:', r.status, '- reviews missing' if NO_REVIEWS in r.body else '- reviews shown')\n"
             "denied = [h for h in r.path.hops if h.decision == 'deny']\n"
             "print(len(denied), 'connections to reviews pods refused, by', dict(Counter(f'{h.name} ({h.role}, {h.layer})' for h in denied)))\n"
             "print('why:', denied[0].error if denied else '-')"),
        code("check('q5', my_q5, 'denied' if NO_REVIEWS in r.body else 'allowed',\n"
             "      \"A selector binds a policy to the workload, and in ambient mode the workload's ztunnel enforces it — \"\n"
             "      \"even when the service has a waypoint. ztunnel cannot see methods, so istiod drops the rule that \"\n"
             "      \"uses one, and an ALLOW policy with no rule left allows nothing: it fails closed. Istio writes the \"\n"
             "      \"warning above into the policy's status. (Each refusal is a failed connection, which Istio's default \"\n"
             "      \"retry policy retries twice, on other pods; productpage's own code retried once, then gave up.)\")"),
        md("<details><summary>Hint</summary>\n\nWho enforces a policy with a `selector` in ambient mode? What can "
           "that proxy see of a request?\n</details>"),
        md("### The fix: target the Service, so the waypoint enforces it\n\n`targetRefs` binds a policy to a "
           "Service (or to the waypoint Gateway itself), and the waypoint — which parses HTTP — enforces it. "
           "Delete the selector policy and apply the same rule with `targetRefs`:"),
        code("REVIEWS_GET_ONLY_AT_WAYPOINT = '''\\\n"
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
             "print('page:', r.status, '- reviews missing' if NO_REVIEWS in r.body else '- reviews shown')"),
        md("### Predict, then run\n\nNow the productpage pod sends a **POST** to reviews (Bookinfo never does; "
           "anyone in the mesh could try). What status does it get, and what role has the proxy that says no?"),
        code("my_q6 = None   # (status, role), e.g. (200, 'ztunnel')"),
        code("post = lab.request('productpage-v1', 'http://reviews:9080/reviews/0', method='POST')\n"
             "print(post)\n"
             "print('body:', post.body)\n"
             "decider = next((h for h in post.path.hops if h.decision == 'deny'), None)"),
        code("check('q6', None if my_q6 is None else tuple(my_q6), (post.status, decider.role if decider else None),\n"
             "      \"The waypoint parses the request, sees POST, and answers 403 'RBAC: access denied' itself: the \"\n"
             "      \"request never reaches the reviews pods. GET still passes, as the page above shows.\")"),
        md("<details><summary>Solution</summary>\n\n`(403, 'waypoint')`. An L7 denial is an HTTP answer "
           "(`403 RBAC: access denied`) from the proxy that parsed the request; an L4 denial is a refused "
           "connection (a reset).\n</details>\n\n"
           "<details><summary>And a DENY policy with HTTP fields, bound by selector?</summary>\n\nztunnel "
           "enforces it *without* its HTTP fields, so it denies more than it says. Istio's status message: "
           "\"DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive "
           "than requested.\" If nothing is left once the HTTP fields are gone, the policy has no effect at all. "
           "Either way the fix is the same: `targetRefs` and a waypoint.\n</details>"),
        code("lab.stop()"),
        md("## 7. Your task: one user gets another version of reviews\n\nIstio's *request routing* task sends the "
           "signed-in user **jason** to reviews **v2**, everyone else to **v1**. Here each learner gets a user and "
           "a version of their own (set `MESHLAB_LEARNER`, or JupyterHub's user name; with neither, Istio's jason "
           "and v2): the goal below names yours. productpage forwards an `end-user` "
           "header for a signed-in user. Below is the skeleton: copy it into `answer`, fill in every `___`, and run "
           "the check. The check applies your YAML to the running lab (reviews has its waypoint, as in section 3), "
           "loads the page 20 times as your user and 20 times as nobody, and reads off each request's path which "
           "reviews pod served it. A blank or wrong answer fails and says what went wrong; your attempts are "
           "recorded in `meshlab-progress.jsonl` beside this notebook."),
        *task_cells("02-waypoints", "jason-to-reviews-v2",
                    "lab = Lab('bookinfo', mode='ambient', waypoints=['reviews'], verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nThe match is on a request header; its name is the one "
           "productpage forwards. The first route is your user's; the second, with no match, is everyone else's.\n"
           "</details>\n\n<details><summary>Solution</summary>\n\n`end-user`, your user, your version, `v1` "
           "(for jason and v2, Istio's `virtual-service-reviews-test-v2.yaml`). In ambient mode it works because reviews has a waypoint; "
           "without one the check fails and says so.\n</details>"),
        code("lab.stop()"),
        md("## 8. Your task: only one caller, through the waypoint\n\nNotebook 03 asks for such a rule without a "
           "waypoint: an `AuthorizationPolicy` whose `selector` picks the service's pods, enforced by their "
           "ztunnel on the identity mutual TLS proved. Here the service has a waypoint (the task's first cell gives "
           "it one), and section 3 showed what the ztunnel in front of the pods then sees: the *waypoint's* "
           "identity, for every caller. The goal names your service and its one allowed caller (Istio's example, "
           "and the default: only productpage may call reviews). Bind the policy where the caller's identity is "
           "still seen. The check applies your YAML, loads the page 10 times (it must stay whole) and calls the "
           "service directly from the client pod (service account `curl`), which must be refused."),
        *task_cells("02-waypoints", "only-one-caller-through-the-waypoint",
                    "lab = Lab('bookinfo', mode='ambient', waypoints=['reviews'], verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nSection 6: a policy for a waypoint names its target, the Service, "
           "with `targetRefs` (group `\"\"`, the core API). A principal is the SPIFFE ID without `spiffe://`: "
           "`cluster.local/ns/default/sa/<the caller's service account>`.\n</details>\n\n"
           "<details><summary>Solution</summary>\n\nFor reviews: `Service`, `reviews`, `ALLOW`, "
           "`cluster.local/ns/default/sa/bookinfo-productpage` (for ratings, `ratings` and `bookinfo-reviews`). The "
           "waypoint sees the caller's identity and lets it through; the client's direct call gets the waypoint's "
           "403. With a `selector` instead, the ztunnel in front of the pods sees only the waypoint's identity, so "
           "it refuses the real caller too and the page loses what the service gives it.\n</details>"),
        code("lab.stop()"),
        md("## What you learned\n\n"
           "- In ambient mode, ztunnel does L4 only: a VirtualService for a service with no waypoint is accepted "
           "and does nothing, and the lab says so.\n"
           "- A waypoint is a Gateway (`gatewayClassName: istio-waypoint`) plus the `istio.io/use-waypoint` label; "
           "a label naming a waypoint that does not exist is not followed.\n"
           "- Behind a waypoint, calls take one more hop (app → ztunnel → waypoint → ztunnel → app), and the "
           "destination sees the **waypoint's** identity.\n"
           "- L7 authorization in ambient mode belongs on the waypoint (`targetRefs`). A `selector` binds a policy "
           "to ztunnel, which cannot see HTTP: an ALLOW with HTTP fields then denies everything.\n\n"
           "Next: [03 mTLS](03-mtls.ipynb) — who may connect at all."),
    ]


def mtls():
    md, code = new_markdown_cell, new_code_cell
    return [
        md("# 03 · Mutual TLS: PERMISSIVE, STRICT, and who gets in\n\n"
           "**Goal:** follow Istio's *Mutual TLS Migration* task. Find out who can reach a meshed service under "
           "the default **PERMISSIVE** mode, and in what form (mutual TLS or plaintext); lock one namespace, then "
           "the whole mesh, to **STRICT**; read the identities that mutual TLS proves; and see the same policy "
           "enforced by ztunnel in ambient mode.\n\n" + nav("03-mtls")),
        md("## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `reach` is the "
           "task's loop — every sleep calls every httpbin — and notes, for each call, the proxy that handed the "
           "request to httpbin and how the request reached it; `show` prints that as a table."),
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
             + check_setup('03-mtls') + "\n\n"
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
             "    return {k for k, g in got.items() if g['outcome'] != 200}"),
        md("## 1. The migration task's cluster\n\nNamespaces `foo` and `bar` each run httpbin (port 8000) and a "
           "sleep client, with sidecars (`istio-injection: enabled`). Namespace `legacy` runs a sleep with no "
           "sidecar: a client outside the mesh."),
        code("lab = Lab('mtls-migration', backend=BACKEND, verbose=False).start()\n"
             "for p in lab.pods():\n"
             "    print(f\"{p['pod']:<15} namespace {p['namespace']:<7} {p['node']}  mesh: {p['mesh'] or 'none (no sidecar)'}\")"),
        code("topology_figure(lab.topology, lab.mesh, title='the mTLS migration task: foo and bar meshed, legacy not')"),
        md("## 2. The default: PERMISSIVE\n\nNo PeerAuthentication exists yet, so every workload is PERMISSIVE, "
           "Istio's default: a sidecar accepts mutual TLS *and* plaintext on the same port. That is what lets a "
           "cluster move into the mesh one namespace at a time.\n\n### Predict, then run\n\nOut of the six calls "
           "(three sleeps × two httpbins), how many succeed? How many of those arrive at httpbin's sidecar over "
           "mutual TLS?"),
        code("my_q1 = None   # how many of the 6 calls succeed\n"
             "my_q2 = None   # how many arrive over mutual TLS"),
        code("got = reach()\nshow(got)"),
        code("check('q1', my_q1, sum(g['outcome'] == 200 for g in got.values()),\n"
             "      'PERMISSIVE admits everyone: clients in the mesh and clients outside it.')\n"
             "check('q2', my_q2, sum(bool(g['door'] and g['door'].mtls) for g in got.values()),\n"
             "      \"A client's sidecar upgrades its calls to mutual TLS whenever the server has a sidecar too (Istio's \"\n"
             "      \"auto mTLS). sleep-legacy has no sidecar: it speaks plaintext, and PERMISSIVE lets that in.\")"),
        md("<details><summary>Hint</summary>\n\nWho can speak mutual TLS? Only a workload with a proxy holding "
           "a certificate from the mesh's CA.\n</details>\n\n"
           "<details><summary>Solution</summary>\n\nAll 6 succeed; 4 arrive over mutual TLS (foo's and bar's "
           "sleeps, to either httpbin), 2 in plaintext (legacy's). The task shows the same: every call returns "
           "200.\n</details>"),
        md("### How Istio lets you check: the destination's metrics\n\nIstio's standard metric "
           "`istio_requests_total`, as the destination's proxy reports it, has a label "
           "`connection_security_policy`: `mutual_tls`, or `none` for plaintext. (Reported by the *source*, it "
           "says `unknown` even for mTLS — a common source of confusion.) Each httpbin's sidecar, so far:"),
        code("def by_security(proxy):\n"
             "    \"\"\"The requests a proxy received (reporter=destination), by connection_security_policy.\"\"\"\n"
             "    out = Counter()\n"
             "    for family in text_string_to_metric_families(lab.metrics(proxy)):\n"
             "        for s in family.samples:\n"
             "            if s.name == 'istio_requests_total' and s.labels.get('reporter') == 'destination':\n"
             "                out[s.labels['connection_security_policy']] += int(s.value)\n"
             "    return dict(out)\n\n\n"
             "for ns in NAMESPACES:\n"
             "    print(f'httpbin-{ns}:', by_security(f'httpbin-{ns}-0/istio-proxy'))"),
        md("## 3. On mininet: what the wire shows\n\nOn the **mininet** backend (root), every node and pod is a "
           "network namespace joined by real links, and `lab.capture(where, during=...)` runs tcpdump on a "
           "link while your traffic flows. It returns the pcap file (Wireshark opens it) and a table of what an "
           "eavesdropper on that link could read: HTTP in the clear, or only TLS records. Under PERMISSIVE, "
           "legacy's requests cross the wire as readable HTTP; the meshed sleeps' requests are TLS application "
           "data.\n\nOn the **loopback** backend (Binder's) there are no links to tap: the cell below then shows the "
           "same capture **recorded on mininet** (it says where and when), its table computed from the recorded pcap "
           "files in `recordings/03-mtls-capture/`. With root, set `BACKEND = 'mininet'` in the setup cell and run "
           "the notebook again to capture your own."),
        code("if lab.backend.name == 'mininet':\n"
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
             "        print(cap.table(limit=8), end='\\n\\n')"),
        md("## 4. STRICT in namespace foo\n\nThe task's next step: a PeerAuthentication named `default` in `foo` "
           "sets every workload there to STRICT — mutual TLS only."),
        code("STRICT_FOO = '''\\\n"
             "apiVersion: security.istio.io/v1\n"
             "kind: PeerAuthentication\n"
             "metadata:\n"
             "  name: default\n"
             "  namespace: foo\n"
             "spec:\n"
             "  mtls:\n"
             "    mode: STRICT\n"
             "'''"),
        md("### Predict, then run\n\nWhich of the six calls fail now? Write them as a set of (source, namespace) "
           "pairs, e.g. `{('bar', 'foo')}`; none at all is `set()`."),
        code("my_q3 = None   # a set of (source, namespace) pairs"),
        code("print(lab.apply(STRICT_FOO))\n"
             "got = reach()\n"
             "show(got)"),
        code("check('q3', my_q3, failing(got),\n"
             "      \"Only plaintext is refused, and only where STRICT applies: legacy -> foo. legacy -> bar still works \"\n"
             "      \"(bar is still PERMISSIVE), and every meshed client already spoke mutual TLS.\",\n"
             "      ok=lambda a: set(a) == failing(got))"),
        md("<details><summary>Hint</summary>\n\nSTRICT is a rule for the *server* side, about the *form* of a "
           "connection. Which clients were sending plaintext, and to whom?\n</details>"),
        md("legacy's client sees `connection reset`: what curl reports as *Recv failure: Connection reset by peer*, "
           "exit code 56, as in the task. The refusal happens before any HTTP is exchanged, so there is no status "
           "code, and the lab's path ends in an `unreached` hop. httpbin-foo's sidecar keeps its own record of the "
           "connections it turned away (its admin stats, as Envoy's `/stats` would):"),
        code("for rec in lab.proxies['httpbin-foo-0/istio-proxy'].call('stats')['refused']:\n"
             "    print(rec)"),
        md("**What the loopback backend cannot enforce.** STRICT above is enforced by the sidecar (or ztunnel) "
           "that owns the pod's address. On the **loopback** backend every pod is an address on this machine's "
           "one loopback interface, with no network namespace around it, so any process on the machine can "
           "connect straight to an app's pod-local address (127.x.(128+i).y) and talk plaintext to it — around "
           "the mesh, which no Kubernetes pod could do. The lab closes what it can there: a pod's capture port "
           "(15001) takes only that pod's own connections, and relays nowhere outside the lab. On the "
           "**mininet** backend (root) every pod is its own network namespace with istio-init's iptables rules, "
           "as in a cluster: the app is reachable only through its proxy, and STRICT holds for every client."),
        md("## 5. STRICT for the whole mesh\n\nThe same policy in the root namespace, `istio-system`, applies to "
           "every namespace that has none of its own (the narrowest policy wins)."),
        code("STRICT_MESH = STRICT_FOO.replace('namespace: foo', 'namespace: istio-system')\n"
             "print(STRICT_MESH)"),
        md("### Predict, then run\n\nWith STRICT in `istio-system` (and foo's own STRICT policy still in force), "
           "which of the six calls fail? Write them as a set of (source, namespace) pairs."),
        code("my_q4 = None   # a set of (source, namespace) pairs that fail"),
        code("print(lab.apply(STRICT_MESH))\n"
             "got = reach()\n"
             "show(got)"),
        code("check('q4', my_q4, failing(got),\n"
             "      'Now every workload in the mesh is STRICT: legacy is shut out of foo and bar alike. The meshed sleeps '\n"
             "      'notice nothing.', ok=lambda a: set(a) == failing(got))"),
        md("## 6. The identities mutual TLS proves\n\nEach mTLS connection carries the client's certificate, with "
           "its SPIFFE identity: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. The last column "
           "of the table above is what httpbin's sidecar saw.\n\n### Predict, then run\n\nBoth sleeps run as "
           "the service account `sleep`. Which identity does httpbin.foo's sidecar see when sleep in **bar** calls "
           "it?"),
        code("my_q5 = None   # a SPIFFE id: 'spiffe://...'"),
        code("seen = got[('bar', 'foo')]['door'].identity\nprint(seen)"),
        code("check('q5', my_q5, seen,\n"
             "      'The identity names the namespace and the service account, so the two sleeps are told apart. That is '\n"
             "      'what an AuthorizationPolicy matches: principals such as cluster.local/ns/bar/sa/sleep (the '\n"
             "      'identity without spiffe://), or namespaces: [bar].')"),
        md("<details><summary>Solution</summary>\n\n`spiffe://cluster.local/ns/bar/sa/sleep`. A plaintext "
           "client proves nothing: under PERMISSIVE, legacy's calls arrived with no identity at all.\n</details>"),
        md("## 7. The same policy in ambient mode\n\nMove namespace `foo` to ambient mode, as Istio does by "
           "relabelling it (`istio.io/dataplane-mode=ambient`, and no more injection): its pods restart without "
           "their sidecars, and the node's ztunnel takes over their traffic. The mesh-wide STRICT policy stays "
           "as it is.\n\n### Predict, then run\n\nztunnel never parses HTTP. Which calls fail now?"),
        code("my_q6 = None   # a set of (source, namespace) pairs that fail"),
        code("print(lab.set_mode('ambient', namespace='foo'))\n"
             "got = reach()\n"
             "show(got)"),
        code("check('q6', my_q6, failing(got),\n"
             "      \"mTLS is L4: ztunnel enforces PeerAuthentication (istiod turns STRICT into a ztunnel rule: no peer \"\n"
             "      \"identity, no entry). legacy stays shut out; bar's sidecar reaches foo's ztunnel over HBONE, with \"\n"
             "      \"its own identity.\", ok=lambda a: set(a) == failing(got))"),
        md("<details><summary>Hint</summary>\n\nIs mutual TLS an HTTP feature? Which proxy in ambient mode "
           "terminates the mTLS connection in front of httpbin.foo?\n</details>\n\n"
           "In ambient mode the refusal is the destination ztunnel's, and it shows in the path:"),
        code("lab.request('sleep-legacy', 'http://httpbin.foo:8000/ip', timeout=5)"),
        md("<details><summary>One more Istio rule</summary>\n\nztunnel knows two modes only: STRICT, and not "
           "STRICT. istiod's conversion of PeerAuthentication for ztunnel "
           "(`pilot/pkg/serviceregistry/ambient/authorization.go`) treats `DISABLE` as PERMISSIVE: a DISABLE "
           "policy in `foo` lifts a mesh-wide STRICT for foo and lets plaintext in again, while meshed clients "
           "still arrive over HBONE — ztunnel never turns mutual TLS off. Istio's docs say such policies \"will be "
           "ignored\"; the code makes them PERMISSIVE, and the lab follows the code (it warns when you apply "
           "one).\n</details>"),
        code("lab.stop()"),
        md("## 8. Your task: only one caller\n\nIdentities are what authorization policies use. On Bookinfo in "
           "ambient mode, write an `AuthorizationPolicy` for a service's pods that lets **only its one real caller** "
           "in: the goal names the service and the caller (Istio's example, and the default: only productpage, "
           "service account `bookinfo-productpage`, may call reviews; a principal is the SPIFFE ID without "
           "`spiffe://`). ztunnel enforces it at L4, on the identity mutual TLS proved. The check applies your "
           "YAML, loads the product page 10 times (it must stay whole), and calls the service directly from the "
           "client pod (service account `curl`), which must be refused."),
        *task_cells("03-mtls", "only-one-caller",
                    "lab = Lab('bookinfo', mode='ambient', verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nThe selector picks pods by their `app` label (the service's name "
           "here). The action that lets the listed sources in, and denies everyone else, is `ALLOW`. A principal "
           "looks like `cluster.local/ns/<namespace>/sa/<service account>`.\n</details>\n\n"
           "<details><summary>Solution</summary>\n\nFor reviews: `reviews`, `ALLOW` and "
           "`cluster.local/ns/default/sa/bookinfo-productpage` (for ratings: `ratings` and `bookinfo-reviews`). "
           "With a waypoint for the service the same policy breaks the page: the ztunnel in front of its pods then "
           "sees the *waypoint's* identity (notebook 02), so the policy belongs on the waypoint (`targetRefs`)."
           "\n</details>"),
        code("lab.stop()"),
        md("## 9. Your task: a STRICT mesh, one namespace left PERMISSIVE\n\nSections 4 and 5 made foo STRICT, "
           "then the whole mesh. A real migration often needs both at once: the mesh STRICT, except a namespace "
           "whose legacy clients have not moved yet. On a fresh lab (foo and bar with sidecars, legacy outside the "
           "mesh), write the two PeerAuthentications; the goal names the namespace that stays PERMISSIVE (each "
           "learner gets foo or bar). The check reads the policies in force and sends three calls from each sleep "
           "to each httpbin it names."),
        *task_cells("03-mtls", "permissive-to-strict", "lab = Lab('mtls-migration', verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nA PeerAuthentication with no selector applies to the namespace it "
           "is in; in `istio-system`, the root namespace, to every namespace without one of its own. The narrowest "
           "policy wins.\n</details>\n\n<details><summary>Solution</summary>\n\n`istio-system` and `STRICT`, then "
           "your PERMISSIVE namespace and `PERMISSIVE`. The mesh-wide policy alone would shut legacy out of both "
           "namespaces, and the check says so.\n</details>"),
        code("lab.stop()"),
        md("## What you learned\n\n"
           "- PERMISSIVE (the default) accepts mutual TLS and plaintext on the same port; meshed clients use "
           "mutual TLS on their own, and clients outside the mesh still get in, in plaintext.\n"
           "- STRICT refuses plaintext with a reset before any HTTP (curl: exit code 56). A namespace's policy "
           "covers that namespace; one in `istio-system` covers the mesh.\n"
           "- mutual TLS proves identities — `spiffe://cluster.local/ns/<ns>/sa/<sa>` — which authorization "
           "policies then use.\n"
           "- Istio shows it in `istio_requests_total{connection_security_policy=...}` at the destination; on "
           "mininet, a capture shows it on the wire.\n"
           "- In ambient mode the same PeerAuthentication is enforced by ztunnel.\n\n"
           "Next: [04 retries and timeouts](04-retries-and-timeouts.ipynb)."),
    ]


def retries_and_timeouts():
    md, code = new_markdown_cell, new_code_cell
    return [
        md("# 04 · Retries and timeouts\n\n"
           "**Goal:** make a flaky service look healthy with Istio **retries**, and measure what that costs — more "
           "requests for the service (retry amplification) and more latency; see why an injected **fault** is "
           "never retried although its route keeps its retries; then cut a latency tail with a **timeout** and see "
           "what it trades for it. Every rate and latency below is measured in this run; delays and error rates "
           "that are *configured* (an injected fault, the app's own randomness) are labelled so.\n\n"
           + nav("04-retries-and-timeouts")),
        md("## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `measure` sends "
           "a load and reports its success rate, latency and how many requests the servers counted (their "
           "sidecars' `istio_requests_total`); `tries` counts how many times each request reached an app; "
           "`latency_cdf` plots measured latency distributions."),
        code(
             "from collections import Counter\n"
             "from matplotlib.figure import Figure\n"
             "from prometheus_client.parser import text_string_to_metric_families\n"
             "from meshlab import Lab\n"
             "from meshlab.topology.loader import TOPOLOGY_DIR\n"
             "from meshlab.viz import path_figure\n"
             "SAMPLES = TOPOLOGY_DIR / 'samples' / 'bookinfo'      # the YAML of Istio's Bookinfo tasks\n\n"
             + check_setup('04-retries-and-timeouts') + "\n\n"
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
             "    ax.set_xlabel('latency of the whole request (ms, measured; log scale)')\n"
             "    ax.set_ylabel('share of requests done')\n"
             "    ax.grid(True, which='both', alpha=0.3)\n"
             "    ax.legend(fontsize=8, loc='lower right')\n"
             "    ax.set_title(title, fontsize=10)\n"
             "    return fig"),
        md("## 1. A flaky service\n\nThe `httpbin` topology: a service `httpbin` with two pods, and a client. We "
           "run it in **sidecar** mode, so the client's sidecar is the proxy that applies retries and timeouts "
           "(in ambient mode it would be the destination's waypoint, as in notebook 02). httpbin's "
           "`/status/200,503` answers 200 or 503 at random, half and half (configured): the failures come from "
           "the app itself, as a flaky backend's would."),
        code("lab = Lab('httpbin', mode='sidecar', verbose=False).start()\n"
             "SERVERS = ['httpbin-0', 'httpbin-1']\n"
             "FLAKY = 'http://httpbin:8000/status/200,503'"),
        md("### Predict, then run\n\nNo VirtualService yet — but Istio applies a default retry policy to every "
           "route. What share of 100 requests succeeds, in percent?"),
        code("my_q1 = None   # a percentage, 0 to 100"),
        code("no_retries = measure(FLAKY)"),
        code("rate1 = 100 * no_retries.summary()['requests']['success_rate']\n"
             "check('q1', my_q1, round(rate1),\n"
             "      \"Istio's default retry policy (2 retries) covers connection failures, refused streams and the gRPC \"\n"
             "      \"statuses unavailable and cancelled. Since Istio 1.24 it no longer retries 503: retrying a request \"\n"
             "      \"that did reach the app (a POST that went through) can do it twice. So the 503s pass straight \"\n"
             "      \"through, about half of them.\", ok=lambda a: abs(a - rate1) <= 10)"),
        md("<details><summary>Hint</summary>\n\nWhat kinds of failure does a *default* retry policy dare to retry, "
           "when it cannot know whether the request is safe to repeat?\n</details>"),
        md("## 2. Retries that mask it\n\nA VirtualService for httpbin with an explicit retry policy: up to 3 "
           "retries, on any 5xx answer."),
        code("RETRIES = '''\\\n"
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
             "print(lab.apply(RETRIES))"),
        md("### Predict, then run\n\nWhat share of 100 requests succeeds now, in percent?"),
        code("my_q2 = None   # a percentage, 0 to 100"),
        code("with_retries = measure(FLAKY)\n"
             "print('tries per request (how many requests reached httpbin that often):', dict(sorted(Counter(tries(with_retries)).items())))"),
        code("rate2 = 100 * with_retries.summary()['requests']['success_rate']\n"
             "check('q2', my_q2, round(rate2),\n"
             "      '`attempts: 3` means 3 retries: 4 tries in all. A request fails only if all 4 fail, each with '\n"
             "      'probability 1/2: 1/16. Expected: 1 - 0.5**4 = 93.75% (a run of 100 varies by a few points).',\n"
             "      ok=lambda a: abs(a - rate2) <= 6)"),
        md("<details><summary>Hint</summary>\n\nA request now fails only when *every* try fails. Is `attempts` the "
           "number of tries, or of retries?\n</details>\n\n"
           "One request that needed the most tries — each retry is a new request from the client's sidecar, "
           "labelled with its attempt number (and Envoy may pick the other pod):"),
        code("most = max(with_retries.paths.values(), key=lambda p: sum(h.role == 'app' for h in p.hops))\n"
             "path_figure(most, title='retries at the client sidecar: one request, every try (measured)')"),
        md("## 3. The price: amplification and latency\n\nEvery retry is one more request for httpbin: the "
           "servers' counters above already received more requests than the client sent. Now the worst case: "
           "httpbin fails *every* request (`/status/503`) — a service that is down, or overloaded.\n\n"
           "### Predict, then run\n\nWith the same retry policy, how many requests does httpbin receive for each "
           "request the client sends?"),
        code("my_q3 = None   # requests httpbin receives per client request"),
        code("down = measure('http://httpbin:8000/status/503', n=50)\n"
             "per_request = sum(tries(down)) / len(down)"),
        code("check('q3', my_q3, per_request,\n"
             "      'Every request is tried 4 times, and every try reaches httpbin: load x4, exactly when the service '\n"
             "      'is least able to take it. When several layers retry (the client, its sidecar, a gateway...) the '\n"
             "      'factors multiply: a retry storm. Hence small attempts, retries only on idempotent routes, and '\n"
             "      'circuit breaking.', ok=lambda a: abs(a - per_request) < 0.3)"),
        md("<details><summary>Hint</summary>\n\nNo try can succeed now, so every request uses all of its tries. "
           "How many tries does `attempts: 3` give?\n</details>\n\n"
           "Retries cost time too: between tries Envoy waits a jittered back-off (25 ms base interval, growing "
           "with each retry). The measured distributions of the three runs:"),
        code("latency_cdf({'default retry policy, 50% 503': no_retries, 'attempts: 3, 50% 503': with_retries,\n"
             "             'attempts: 3, 100% 503': down}, 'httpbin through the client sidecar: request latency')"),
        md("## 4. A fault on a route with retries\n\nCould you test retries with Istio's fault "
           "injection instead of a flaky app? The same route, with the same retry policy, plus a fault that "
           "aborts half of the requests with 503 (configured) — sent to `/get`, which always answers 200."),
        code("FAULT_AND_RETRIES = '''\\\n"
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
             "print(lab.apply(FAULT_AND_RETRIES))"),
        md("### Predict, then run\n\nWhat share of 100 requests succeeds, in percent?"),
        code("my_q4 = None   # a percentage, 0 to 100"),
        code("faulted = measure('http://httpbin:8000/get')\n"
             "print('tries per request:', dict(sorted(Counter(tries(faulted)).items())))"),
        code("rate4 = 100 * faulted.summary()['requests']['success_rate']\n"
             "check('q4', my_q4, round(rate4),\n"
             "      \"About half. In Envoy the fault filter comes before the router, which makes the tries: an aborted \"\n"
             "      \"request is answered by the fault filter of the client's sidecar and never reaches the router (0 \"\n"
             "      \"tries above, and the servers received only the other half), so no retry policy can see it.\",\n"
             "      ok=lambda a: abs(a - rate4) <= 12)"),
        md("<details><summary>Hint</summary>\n\nWhere is the fault injected — before or after the proxy part that "
           "makes the tries?\n</details>\n\n"
           "### Does the route still retry?\n\nIstio's VirtualService reference says \"timeouts or retries will not "
           "be enabled when faults are enabled on the client side\". istiod's code says otherwise: it gives the "
           "route its retry policy and timeout whatever the fault (`TranslateRoute` in "
           "`pilot/pkg/networking/core/route/route.go`), so the sentence is true of the *injected* requests only "
           "(istio/istio#13705). This lab follows the code. The same route, now against the flaky `/status/200,503`: "
           "half the requests are aborted by the fault; the other half reach httpbin, which fails half of its "
           "answers.\n\n### Predict, then run\n\nOf the requests the fault lets through, what share succeeds, in "
           "percent?"),
        code("my_q4b = None   # a percentage, 0 to 100"),
        code("both = measure(FLAKY)\n"
             "status = {o['trace_id']: o['status'] for o in both.outcomes}\n"
             "through = [t for t, p in both.paths.items() if any(h.role == 'app' for h in p.hops)]\n"
             "aborted = len(both) - len(through)\n"
             "rate4b = 100 * sum(status[t] == 200 for t in through) / max(len(through), 1)\n"
             "print(f'aborted by the fault (no try): {aborted}; let through: {len(through)}, of which {rate4b:.0f}% succeeded')"),
        code("check('q4b', my_q4b, round(rate4b),\n"
             "      \"The router still has the route's retry policy (3 retries on 5xx): a request the fault lets \"\n"
             "      \"through fails only if all 4 tries get a 503 from httpbin, 1 - 0.5**4 = 93.75% succeed. Faults test \"\n"
             "      \"how callers cope with a failure; retries are tested against failures from upstream.\",\n"
             "      ok=lambda a: abs(a - rate4b) <= 10)"),
        md("The same goes for the route's `timeout`: an injected delay elapses in the fault filter, and the "
           "router's timeout starts after it, so a 7 s delay and a 1 s timeout on one route give a 7 s wait and no "
           "504 — unless the upstream then takes more than 1 s.\n\nThat is all for httpbin:"),
        code("lab.stop()"),
        md("## 5. Timeouts, on Bookinfo\n\nBookinfo's own code has timeouts (Istio's sample, kept here): reviews "
           "v2 waits up to 10 s for ratings, v3 up to 2.5 s; productpage waits 3 s for reviews and retries once. "
           "Again in sidecar mode."),
        code("lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n"
             "PAGE = 'http://productpage:9080/productpage'\n"
             "JASON = {'cookie': 'user=jason'}      # signed in as jason: productpage forwards end-user: jason"),
        md("### 5a. Istio's fault-injection task: a 7 s delay\n\nAll services to v1, except that jason gets "
           "reviews v2; and ratings delays jason's requests by **7 s** (configured, an injected fault):"),
        code("print(lab.apply([SAMPLES / 'destination-rule-all.yaml', SAMPLES / 'virtual-service-all-v1.yaml',\n"
             "                  SAMPLES / 'virtual-service-reviews-test-v2.yaml',\n"
             "                  SAMPLES / 'virtual-service-ratings-test-delay.yaml']))\n"
             "print((SAMPLES / 'virtual-service-ratings-test-delay.yaml').read_text())"),
        md("### Predict, then run\n\nHow many seconds until jason's page comes back?"),
        code("my_q5 = None   # seconds"),
        code("r = lab.request('client', PAGE, headers=JASON)\n"
             "print(f'{r.status} in {r.latency_ms / 1000:.2f} s;', 'reviews missing' if 'Error fetching product reviews' in r.body else 'reviews shown')\n"
             "r.path"),
        code("seconds = round(r.latency_ms / 1000, 2)\n"
             "check('q5', my_q5, seconds,\n"
             "      \"reviews v2 would wait out the 7 s (its limit is 10 s), but productpage gives up first: 3 s, one retry, \"\n"
             "      \"3 s more — about 6 s, then a page without reviews. The path shows productpage's two tries, each \"\n"
             "      \"cut at 3 s (the reviews pod was still waiting on ratings when they were cut, so they show as \"\n"
             "      \"unreached). Along a chain of calls, the most restrictive timeout wins.\",\n"
             "      ok=lambda a: abs(a - seconds) <= 1)"),
        md("<details><summary>Solution</summary>\n\nAbout 6 s: Istio's task page says so too, and calls "
           "productpage's hard-coded 3 s + 1 retry a bug \"introduced explicitly for illustration\". With reviews "
           "v3 (2.5 s to ratings) a delay under 2.5 s would be absorbed instead.\n</details>"),
        md("### 5b. Cutting a tail with a timeout\n\nNow a tail for everybody: all reviews traffic to v2 (so "
           "every page calls ratings), and **20%** of ratings calls delayed **2 s** (both configured). First "
           "without a timeout:"),
        code("TAIL = '''\\\n"
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
             "slow = page_load('no timeout')"),
        md("Istio's *request timeouts* task sets a timeout on the reviews route: `timeout: 0.5s` (it covers all "
           "tries of a request; Envoy answers 504 when it fires).\n\n### Predict, then run\n\nWith the timeout, "
           "how long does the slowest page take?\n\n- **a** about 0.5 s\n- **b** about 1 s\n- **c** about 2 s, "
           "as before"),
        code("my_q6 = None   # 'a', 'b' or 'c'"),
        code("WITH_TIMEOUT = TAIL.replace('subset: v2}\\n', 'subset: v2}\\n    timeout: 0.5s\\n', 1)\n"
             "print(lab.apply(WITH_TIMEOUT))\n"
             "cut = page_load('timeout 0.5s')"),
        code("slowest = max(cut.latencies_ms()) / 1000\n"
             "check('q6', my_q6, min({'a': 0.5, 'b': 1.0, 'c': 2.0}.items(), key=lambda kv: abs(kv[1] - slowest))[0],\n"
             "      \"The sidecar cuts a slow reviews call at 0.5 s (504), and productpage's own code retries once: a page \"\n"
             "      \"whose two tries both hit the delay takes about 2 x 0.5 s and shows no reviews, as in Istio's task \"\n"
             "      \"(about 1 s). The tail is shorter, and paid for in pages without reviews.\")"),
        code("latency_cdf({'no timeout': slow, 'timeout: 0.5s on reviews': cut},\n"
             "            'Bookinfo, 20% of ratings calls delayed 2 s (configured): page latency')"),
        md("<details><summary>Solution</summary>\n\nUsually **b**. A page is as slow as its slowest path: one "
           "timed-out try (0.5 s) and a fast retry gives ~0.5 s; two timed-out tries give ~1 s. With 20% of "
           "calls delayed, expect 20% × 20% = 4% of pages to get two (a run of 100 has none only rarely). Had the timeout been over 3 s, it would have changed "
           "nothing: productpage's own 3 s would fire first.\n</details>"),
        code("lab.stop()"),
        md("## 6. Your task: stop the retry storm\n\nSection 3 showed the price of retries when a service is down: "
           "every request becomes `attempts + 1`. On a fresh httpbin lab (sidecar mode), the task's first cell "
           "applies a VirtualService that retries up to 10 times on any 5xx; the goal names your flaky endpoint "
           "(each learner gets a failure rate and a budget). Rewrite the retry policy: an outage must cost at most "
           "the budget in tries per request, and the flaky endpoint must still succeed at least 90% of the time. "
           "The check sends 300 requests to the flaky endpoint and 12 to `/status/503` (httpbin down), and counts "
           "on each request's path how many times it reached httpbin."),
        *task_cells("04-retries-and-timeouts", "stop-the-retry-storm",
                    "lab = Lab('httpbin', mode='sidecar', verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nWith a failure rate p and k tries, a request fails only when all "
           "k fail: p<sup>k</sup>. An outage makes every request use all k. `attempts` counts retries: k = "
           "attempts + 1.\n</details>\n\n<details><summary>Solution</summary>\n\n`attempts: budget - 1` and "
           "`retryOn: 5xx`: at 25% failures, 1 retry gives 1 - 0.25² = 93.75% and 2 tries in an outage; at 40%, 2 "
           "retries give 93.6% and 3 tries. One fewer retry misses 90%; one more breaks the budget. A "
           "DestinationRule can also cap the retries in flight to a whole service (`connectionPool.http."
           "maxRetries`), which bounds a storm without giving up retries.\n</details>"),
        code("lab.stop()"),
        md("## 7. Your task: a deadline for the page\n\nIstio's *request timeouts* task: ratings is slow (an "
           "injected delay on every call, configured), every page goes through reviews v2, which waits for "
           "ratings, and a timeout on the reviews route bounds the wait. The goal names your delay and your limit "
           "for the whole page. The task's first cell sets up the routes and the delay on a fresh Bookinfo "
           "(sidecar mode); your VirtualService replaces the reviews route. The check loads 6 pages and times the "
           "slowest."),
        *task_cells("04-retries-and-timeouts", "page-deadline",
                    "lab = Lab('bookinfo', mode='sidecar', verbose=False).start()\n"),
        md("<details><summary>Hint</summary>\n\nSection 5a: productpage's own code tries reviews twice. How long "
           "can a page wait if each try is cut at your timeout?\n</details>\n\n<details><summary>Solution</summary>"
           "\n\nLess than half the limit, with room for the rest of the page: `0.5s` for a 1.5 s limit (Istio's "
           "task uses 0.5 s and sees the page in about 1 s), up to about `1s` for 2.5 s. The reviews are then cut "
           "off (\"Error fetching product reviews\"): a deadline is paid for in answers.\n</details>"),
        code("lab.stop()"),
        md("## What you learned\n\n"
           "- Istio's default retry policy retries failed connections, refused streams and two gRPC statuses, but "
           "not 503 (since 1.24); a "
           "`retries` block can mask a flaky service almost completely (`attempts` counts retries, not tries).\n"
           "- Retries multiply load: a service that fails everything receives `attempts + 1` requests for each one "
           "sent, and back-off adds latency.\n"
           "- An injected fault is made before the router: an aborted request is never retried and an injected "
           "delay does not count against the route's timeout, but the route keeps its retries and timeout for "
           "failures from upstream (istiod's code; Istio's reference says faults switch them off).\n"
           "- A timeout cuts the tail and trades it for errors; along a chain of calls the most restrictive "
           "timeout wins, and the callers' own retries multiply it.\n\n"
           "Back to the start: [00 start here](00-start-here.ipynb)."),
    ]


NOTEBOOKS = {"00-start-here.ipynb": start_here, "01-sidecar-vs-ambient.ipynb": sidecar_vs_ambient,
             "02-waypoints.ipynb": waypoints, "03-mtls.ipynb": mtls,
             "04-retries-and-timeouts.ipynb": retries_and_timeouts}


def stable_ids(cells: list) -> list:
    """Cell ids from the cells' text (nbformat draws random ones), so that regenerating an
    unchanged notebook changes nothing and a diff shows only the cells that changed."""
    seen: dict[str, int] = {}
    for c in cells:
        h = hashlib.sha1(f"{c.cell_type}:{c.source}".encode()).hexdigest()[:8]
        seen[h] = seen.get(h, 0) + 1
        c.id = h if seen[h] == 1 else f"{h}-{seen[h]}"
    return cells


def build(name: str):
    """The notebook ``name`` as this script writes it."""
    return new_notebook(cells=stable_ids(NOTEBOOKS[name]()), metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})


def main():
    NB.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        nbformat.write(build(name), NB / name)
        print("wrote", NB / name)


if __name__ == "__main__":
    main()
