"""Notebook 08-what-the-mesh-costs: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "08-what-the-mesh-costs"
TITLE = "08 what the mesh costs"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 08 · What the mesh costs\n\n"
            "**Goal:** measure what each data plane costs as a cluster grows — proxy processes, their memory, "
            "their CPU — on generated Bookinfo clusters of 4 to 32 pods; see which cost grows with **pods** "
            "(a sidecar in every pod) and which with **nodes** (a ztunnel per node); fit lines through the "
            "measurements and extrapolate them, plainly marked as such, to a 1,000-pod cluster; then put L7 only "
            "where it is needed, within a budget.\n\n" + nav(NAME)
        ),
        md(
            "## 0. Setup\n\nHelpers: `check` compares your prediction with what the lab measured; `measure` starts "
            "a generated cluster in one mode, loads its product page 30 times, and returns what its processes "
            "cost (psutil and the scheduler's counts, from Linux's accounting), then stops it. A generated cluster (`gen:services=S,"
            "replicas=R,nodes=N`, see `meshlab generate --help`) is Istio's Bookinfo repeated, S services with R "
            "pods each, spread over N nodes, plus a client pod.\n\nMemory is **USS**, what each process alone "
            "holds (notebook 01 explains USS, RSS and PSS); CPU is the proxies' CPU time over the load, per page; "
            "*ok* counts the pages answered 200."
        ),
        code(
            "import numpy as np\n"
            "from matplotlib.figure import Figure\n"
            "from meshlab import Lab\n"
            "from meshlab.tables import Table\n"
            "from meshlab.tasks.cost import PROXY_ROLES\n"
            "import meshlab.viz                                        # matplotlib Figures draw as images here\n\n"
            + check_setup(NAME)
            + "\n\n"
            "def measure(spec, mode, pages=30):\n"
            "    \"\"\"Start the cluster `spec` in `mode`, load the page `pages` times, and return what it costs.\"\"\"\n"
            "    with Lab(spec, mode=mode, verbose=False) as lab:\n"
            "        lab.load(requests=5, progress=False)                     # warm: connections, TLS sessions\n"
            "        cpu0 = sum(u.cpu_s for u in lab.usage().values() if u.role in PROXY_ROLES)\n"
            "        res = lab.load(requests=pages, concurrency=2, progress=False)\n"
            "        use = lab.usage()\n"
            "    proxies = [u for u in use.values() if u.role in PROXY_ROLES]\n"
            "    apps = [u for u in use.values() if u.role == 'app']\n"
            "    return {'spec': spec, 'mode': mode, 'pods': len(apps), 'nodes': int(spec.rsplit('nodes=', 1)[1]),\n"
            "            'proxies': len(proxies), 'proxy_mb': sum(u.uss_mb for u in proxies),\n"
            "            'app_mb': sum(u.uss_mb for u in apps), 'ok': res.summary()['requests']['ok'],\n"
            "            'cpu_ms_per_page': 1000 * (sum(u.cpu_s for u in proxies) - cpu0) / pages}\n\n\n"
            "def show(rows):\n"
            "    return Table(('cluster', 'mode', 'pods', 'proxies', 'proxy MB', 'app MB', 'proxy share',\n"
            "                  'CPU ms/page', 'ok'),\n"
            "                 [(r['spec'].removeprefix('gen:'), r['mode'], r['pods'], r['proxies'], f\"{r['proxy_mb']:.1f}\",\n"
            "                   f\"{r['app_mb']:.1f}\", f\"{100 * r['proxy_mb'] / (r['proxy_mb'] + r['app_mb']):.0f}%\",\n"
            "                   f\"{r['cpu_ms_per_page']:.2f}\", r['ok']) for r in rows])"
        ),
        md(
            "## 1. Growing the cluster\n\nFour clusters on 2 nodes: 4, 8, 16 and 32 service pods, each with a client "
            "pod, first with sidecars, then in ambient mode.\n\n### Predict, then run\n\nThe largest one has 32 "
            "service pods and a client pod on 2 nodes. How many proxy processes does it run in each mode?"
        ),
        code("my_q1 = None   # a dict: {'sidecar': ?, 'ambient': ?}"),
        code(
            "SIZES = (4, 8, 16, 32)\n"
            "rows = [measure(f'gen:services={n},replicas=1,nodes=2', mode) for n in SIZES for mode in ('sidecar', 'ambient')]\n"
            "show(rows)"
        ),
        md(
            "*Reading the CPU column:* in Istio ambient is the cheaper data plane per request. This lab's "
            "ztunnel is Python and pays most per **connection**, and a page here opens a new connection for "
            "each call, so on some runs ambient's CPU per page comes out close to sidecar's, or above it — a "
            "property of this lab's proxies, not of Istio's Rust ztunnel (section 3 and notebook 01 §2b "
            "separate the two costs)."
        ),
        code(
            "largest = {r['mode']: r['proxies'] for r in rows if r['pods'] == 33}\n"
            "check('q1', my_q1, largest,\n"
            "      'A sidecar in every pod, the client\\'s too (33); one ztunnel per node (2), whatever the pods. '\n"
            "      'Istio\\'s ambient architecture pages: ztunnel runs on every node (a DaemonSet), in contrast with '\n"
            "      '\"the sidecar model where each application pod has its own proxy\".')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWhere does each data plane put its proxy: in the pod, or on the "
            "node?\n</details>\n\n<details><summary>Solution</summary>\n\n`{'sidecar': 33, 'ambient': 2}`: every pod "
            "gets a sidecar (injection adds a container to each pod); ambient runs one ztunnel per node "
            "(a DaemonSet), and no waypoint was asked for here.\n</details>"
        ),
        md(
            "## 2. What grows with pods, what grows with nodes\n\nThe same 16 service pods in ambient mode on 2, 4 "
            "and 8 nodes: the ztunnels' cost follows the nodes."
        ),
        code(
            "node_rows = [measure(f'gen:services=16,replicas=1,nodes={k}', 'ambient') for k in (2, 4, 8)]\n"
            "show(node_rows)"
        ),
        md(
            "### Fit, then extrapolate\n\nStraight lines through the measurements (least squares): sidecar proxy "
            "memory against pods, ambient proxy memory against nodes. Then both extrapolated to **1,000 pods on "
            "100 nodes** — far outside what was measured, so the figure draws the extrapolation dashed and says "
            "so; it also ignores what grows with a cluster besides processes (the proxies' configuration, "
            "certificates, connections).\n\n### Predict, then run\n\nAt 1,000 pods on 100 nodes, how many times "
            "more proxy memory do the sidecars take than the ztunnels (a number, from this lab's proxies)?"
        ),
        code("my_q2 = None   # sidecar proxy memory / ambient proxy memory at 1,000 pods on 100 nodes"),
        code(
            "side = [r for r in rows if r['mode'] == 'sidecar']\n"
            "amb = [r for r in rows + node_rows if r['mode'] == 'ambient']\n"
            "s_slope, s_icpt = np.polyfit([r['pods'] for r in side], [r['proxy_mb'] for r in side], 1)\n"
            "a_slope, a_icpt = np.polyfit([r['nodes'] for r in amb], [r['proxy_mb'] for r in amb], 1)\n"
            "at_1000 = {'sidecar': s_slope * 1001 + s_icpt, 'ambient': a_slope * 100 + a_icpt}\n"
            "print(f'sidecar: {s_slope:.2f} MB per pod (fitted); ambient: {a_slope:.2f} MB per node (fitted)')\n"
            "print(f\"extrapolated to 1,000 pods on 100 nodes: sidecar {at_1000['sidecar']:.0f} MB, ambient {at_1000['ambient']:.0f} MB\")\n\n"
            "fig = Figure(figsize=(9, 3.8), layout='constrained')\n"
            "ax1, ax2 = fig.subplots(1, 2, sharey=True)\n"
            "xs = np.array([4, 1001])\n"
            "ax1.plot([r['pods'] for r in side], [r['proxy_mb'] for r in side], 's', color='#D55E00', label='sidecar, measured')\n"
            "ax1.plot(xs, s_slope * xs + s_icpt, '--', color='#D55E00', label='fitted, extrapolated past 33 pods')\n"
            "ax1.set(xscale='log', yscale='log', xlabel='pods in the mesh (2 nodes measured)', ylabel='proxy memory, USS (MB)')\n"
            "ax2.plot([r['nodes'] for r in amb], [r['proxy_mb'] for r in amb], '^', color='#0072B2', label='ambient, measured')\n"
            "ns = np.array([2, 100])\n"
            "ax2.plot(ns, a_slope * ns + a_icpt, '--', color='#0072B2', label='fitted, extrapolated past 8 nodes')\n"
            "ax2.set(xscale='log', yscale='log', xlabel='nodes (ztunnels)', ylabel='proxy memory, USS (MB)')\n"
            "ax1.plot([1001], [at_1000['sidecar']], 'o', mfc='white', color='#D55E00')\n"
            "ax1.annotate(f\"{at_1000['sidecar']:,.0f} MB (extrapolated)\", (1001, at_1000['sidecar']), fontsize=8,\n"
            "             xytext=(-8, -14), textcoords='offset points', ha='right')\n"
            "ax2.plot([100], [at_1000['ambient']], 'o', mfc='white', color='#0072B2')\n"
            "ax2.annotate(f\"{at_1000['ambient']:,.0f} MB (extrapolated)\", (100, at_1000['ambient']), fontsize=8,\n"
            "             xytext=(-8, -14), textcoords='offset points', ha='right')\n"
            "for ax in (ax1, ax2):\n"
            "    meshlab.viz.plain_log_ticks(ax.xaxis)\n"
            "    meshlab.viz.plain_log_ticks(ax.yaxis)\n"
            "    ax.grid(True, which='both', alpha=0.3)\n"
            "    ax.legend(fontsize=8, loc='lower right')\n"
            "fig.suptitle('proxy memory: markers measured here, dashed lines fitted and EXTRAPOLATED', fontsize=10)\n"
            "fig"
        ),
        code(
            "ratio = at_1000['sidecar'] / at_1000['ambient']\n"
            "check('q2', my_q2, round(ratio, 1),\n"
            "      f'Sidecars: {s_slope:.1f} MB for every pod; ztunnels: {a_slope:.1f} MB for every node. At 10 pods per '\n"
            "      'node that is roughly ten sidecars against one ztunnel, before the ztunnel\\'s share of more pods. '\n"
            "      'Istio\\'s published figures point the same way, larger: about 60 MB for one sidecar and 12 MB for one '\n"
            "      'ztunnel, each measured at 1000 requests/s of 1 KB (the Performance and Scalability page, Istio 1.24); '\n"
            "      'this lab\\'s Python proxies are smaller than Envoy, so only the shape transfers.',\n"
            "      ok=lambda a: abs(a - ratio) <= max(1.0, 0.25 * ratio))"
        ),
        md(
            "<details><summary>Hint</summary>\n\nPer pod, one sidecar; per node, one ztunnel. 1,000 pods on 100 "
            "nodes is 10 pods per node.\n</details>\n\n<details><summary>Solution</summary>\n\nThe ratio of the two "
            "fitted lines at that size, about ten times with this lab's proxies (a ztunnel here holds a little more "
            "than a sidecar, and a little more again for each pod it serves). Istio's figures "
            "([Performance and Scalability](https://istio.io/latest/docs/ops/deployment/performance-and-scalability/), "
            "Istio 1.24, each proxy at 1000 requests/s of 1 KB): a sidecar around 60 MB, a ztunnel around 12 MB — "
            "the same direction, further apart.\n</details>"
        ),
        md(
            "## 3. The proxies' share of the cluster\n\nThe tables above also give the proxies' "
            "share of the cluster's memory (proxies / (proxies + apps), USS) and their CPU per page. A page is "
            "the same work however large the cluster, so CPU per page should not grow with it — but it depends "
            "on the data plane: a sidecar's grows with requests (it parses each one), a ztunnel's with connections "
            "and bytes (a stream for each connection, every byte encrypted). This lab's Python ztunnel pays most per "
            "connection, more than Istio's Rust one does (notebook 01 §2b measures both shapes).\n\n### Predict, then run\n\nIn the 33-pod sidecar cluster, what share of the "
            "cluster's memory is proxies, in percent?"
        ),
        code("my_q3 = None   # a percentage, 0 to 100"),
        code(
            "big = next(r for r in rows if r['pods'] == 33 and r['mode'] == 'sidecar')\n"
            "share = 100 * big['proxy_mb'] / (big['proxy_mb'] + big['app_mb'])\n"
            "each = (big['proxy_mb'] / big['proxies'], big['app_mb'] / big['pods'])\n"
            "check('q3', my_q3, round(share),\n"
            "      f\"Each pod holds its app and its sidecar: here a sidecar ({each[0]:.1f} MB) holds more than its app \"\n"
            "      f\"({each[1]:.1f} MB), so the sidecars are {share:.0f}% of the cluster's memory. Envoy (~60 MB) next to a \"\n"
            "      \"small app is larger still; in ambient mode the share falls as pods are added.\", ok=lambda a: abs(a - share) <= 10)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nCompare one sidecar's memory with one app's in the table.\n"
            "</details>\n\n<details><summary>Solution</summary>\n\nMore than half with this lab's proxies: the "
            "table's *proxies, share* column for the 33-pod sidecar row. Ambient's share shrinks as pods are added "
            "to the same nodes.\n</details>"
        ),
        md(
            "## 4. Your task: L7 where it is needed, on a budget\n\nA VirtualService gives one service a retry "
            "policy (the goal names it; each learner gets one). Retries need a proxy that parses HTTP. Sidecars "
            "would give every pod one; a waypoint gives it only to the service that uses it. Enroll the fresh "
            "Bookinfo below (no mesh yet) so that every call is mutual TLS and every call to your service crosses "
            "an L7 proxy, within the budget of proxy processes. The skeleton has a Namespace, a waypoint Gateway "
            "and the Service's label. The check counts the proxy processes and looks at every call of 8 pages."
        ),
        *task_cells(NAME, "l7-on-a-budget", "lab = Lab('bookinfo', verbose=False).start()\n"),
        md(
            "<details><summary>Hint</summary>\n\nWhich enrollment label costs one proxy per node, and which one per "
            "pod? The Service's label names the Gateway to use.\n</details>\n\n<details><summary>Solution</summary>"
            "\n\n`istio.io/dataplane-mode: ambient`, your service, `waypoint`: 2 ztunnels and 1 waypoint. With "
            "`istio-injection: enabled` every call is mutual TLS and parsed by sidecars, but the cluster runs 7 "
            "sidecars (and the waypoint nobody uses), and the check counts them.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 5. Your task: proxies by nodes\n\nWrite the `Lab` line yourself this time: a generated cluster with "
            "the number of service pods your goal names, in the mesh, whose data plane runs exactly the number of "
            "proxy processes it names. Uncomment and complete the first line of the check cell, run the cell, "
            "then set `answer = 'done'` and run it again (or both at once)."
        ),
        code(
            "from meshlab import Lab\n"
            "from meshlab.exercises import session\n"
            "from meshlab.tasks import TASKS\n"
            f"ex = session({NAME!r})\n"
            "task = TASKS['proxies-by-nodes']\n"
            "lab = None\n"
            "print(ex.goal(task))"
        ),
        code(
            "# lab = Lab('gen:services=___,replicas=___,nodes=___', mode='___', verbose=False).start()\n"
            "answer = None   # 'done' once your lab runs\n"
            "ex.task(task, lab, answer)"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA generated cluster has services × replicas service pods. In which "
            "mode does the number of proxies not depend on the pods at all?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nAmbient mode with as many nodes as proxies: for 12 pods and "
            "3 proxies, `gen:services=4,replicas=3,nodes=3` (or `services=12,replicas=1,nodes=3`), "
            "`mode='ambient'`. In sidecar mode the same cluster runs 13 sidecars.\n</details>"
        ),
        code("if lab is not None:\n    lab.stop()"),
        md(
            "## 6. Your task: pay per connection, not per request\n\nSection 3 said it: a sidecar parses every "
            "request, a ztunnel pays for every new connection (an HBONE stream to the other node's ztunnel, a TCP "
            "connection to the app) and then only moves bytes (notebook 01 §2b measures both). On the `minimal` "
            "topology in ambient mode, choose a load of 400 requests that the ztunnels carry on at most the number "
            "of connections your goal names. The check sends it and counts, from the ztunnels' own "
            "`istio_tcp_connections_opened_total`, how many connections they opened."
        ),
        *task_cells(
            NAME, "connections-not-requests", "lab = Lab('minimal', mode='ambient', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nHow many connections does a load of concurrency c open if it keeps "
            "them alive, and how many if it closes each one after its request?\n</details>\n\n"
            "<details><summary>Solution</summary>\n\n`keep_alive: true` and a concurrency no larger than your "
            "budget (4 for Istio-like numbers): the ztunnels then open exactly that many connections. With "
            "`keep_alive: false` they open 400, one per request — Bookinfo's productpage works that way, which is "
            "why this lab's Python ztunnels cost as much as sidecars on Bookinfo (notebook 01).\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n"
            "- Sidecar mode runs a proxy in every pod: its proxy count and memory grow with **pods**. Ambient mode "
            "runs a ztunnel per **node**, and a waypoint only where L7 is asked for.\n"
            "- Measured points and fitted lines are not the same thing: an extrapolation to 1,000 pods is a model, "
            "and says so; it leaves out configuration and connections that grow with a cluster.\n"
            "- With this lab's proxies the sidecars are more than half of a cluster's memory; Istio's published "
            "figures (one sidecar ~60 MB, one ztunnel ~12 MB, at 1000 requests/s) point the same way.\n"
            "- A sidecar's CPU grows with requests, a ztunnel's with connections and bytes (notebook 01 §2b).\n\n"
            + next_link(NAME)
        ),
    ]
