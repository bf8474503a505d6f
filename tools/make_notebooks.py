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


# The self-check every guided notebook defines in its setup cell: a prediction left at None is
# "not answered yet" (so the notebook runs headless), and the explanation shows only once answered.
CHECK = (
    "def check(answer, measured, why, ok=None):\n"
    "    \"\"\"Your prediction against what the lab measured: ✔ or ✘, then why.\"\"\"\n"
    "    if answer is None:\n"
    "        print('… not answered yet: put your prediction in the cell above the run, run it, then this cell.')\n"
    "        return\n"
    "    right = ok(answer) if ok else answer == measured\n"
    "    print(('✔ right' if right else '✘ not quite') + f' (you said {answer!r}; measured: {measured!r})')\n"
    "    print(why)\n")


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
             "print('mininet backend:', 'available' if ok else f'not available ({why})')"),
        md("## 2. Start Bookinfo\n\nThe topology file `topologies/bookinfo.yaml` describes the cluster: two nodes, "
           "the four Bookinfo services on port 9080, reviews in three versions, and a `client` pod to send from. "
           "Starting the lab starts one OS process per pod."),
        code("from meshlab import Lab\n"
             "lab = Lab('bookinfo').start()\n"
             "print(f'up in {lab.startup_s:.2f} s (measured)')\n"
             "for row in lab.pods():\n"
             "    print(f\"{row['pod']:<18} {row['node']:<7} {row['ip']:<15} ports {row['ports']}  pid {row['pid']}\")"),
        md("## 3. One request, hop by hop\n\nThe client asks for the product page. Each app records a span for the "
           "request it handled; the lab puts them back together into the request's **path**. Times are measured "
           "(each app also has a configured service time of 1 ms, which is emulated work)."),
        code("r = lab.request('client', 'http://productpage:9080/productpage')\nprint(r)"),
        md("### Predict, then run\n\n"
           "productpage calls `reviews` through its Kubernetes service, which has **three** pods (v1, v2, v3) and "
           "no routing rules. Out of 60 page loads, how many *different* reviews pods do you expect to answer? "
           "Put your answer in `my_answer`, then run the next two cells."),
        code("my_answer = 3   # your prediction: how many different reviews pods answer?"),
        code("res = lab.load(requests=60, concurrency=2)\n"
             "for g in res.path_groups():\n"
             "    print(f\"{g['count']:>3} x  \" + ' -> '.join(h['name'] for h in g['hops']))\n"
             "answered = {h['name'] for g in res.path_groups() for h in g['hops'] if h['name'].startswith('reviews-')}\n"
             "print()\n"
             "print('✔ right:' if my_answer == len(answered) else '✘ not quite:',\n"
             "      f'{len(answered)} reviews pods answered: {sorted(answered)}')"),
        md("<details><summary>Hint</summary>\n\nWith no mesh, kube-proxy picks one of the service's ready pods "
           "for every new connection, at random. productpage opens a new connection for every call.\n</details>\n\n"
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
        md("## What you learned\n\n- A *topology* is data; a *lab* runs it on a *backend*, one process per pod.\n"
           "- A request's *path* is rebuilt from the spans each hop emitted, with measured times.\n"
           "- Without a mesh, kube-proxy spreads connections over a service's pods at random, and the apps' own "
           "code decides timeouts and retries.\n\nNext: add a mesh and see what changes on the same paths."),
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
        code("my_proxies_per_call = {'sidecar': 2, 'ambient': 2, 'ambient+waypoint': 3}   # your guesses\n"
             "my_l7_steps_per_call = {'sidecar': 2, 'ambient': 0, 'ambient+waypoint': 1}\n"
             "my_fewest_proxies = 'ambient'"),
        md("## 1. One request through each data plane\n\nThe same page request, four times. Bars are hops over "
           "time; hatched bars are L4 hops (ztunnel: it sees connections, not requests); a black outline means "
           "the hop was reached over mutual TLS, and the label says whose identity it saw."),
        code("%matplotlib inline\n"
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
             "maps[1]"),
        code("figures[1]"),
        code("maps[3]"),
        code("figures[2]"),
        code("figures[3]"),
        md("## 2. The comparison, measured\n\n`compare` sends the same load (from the `client` pod to the "
           "product page) through each data plane in turn and measures everything in the table. It takes about "
           "half a minute."),
        code("from meshlab.compare import compare, format_table\n"
             "table = compare('bookinfo', requests=150, concurrency=4, warmup=20, log=lambda s: None)\n"
             "print(format_table(table))"),
        code("from meshlab.viz import latency_figure, cost_figure\nlatency_figure(table)"),
        code("cost_figure(table)"),
        md("## 3. Check your predictions"),
        code("measured_hops = {m: table[m]['proxy_hops_per_call'] for m in my_proxies_per_call}\n"
             "measured_l7 = {m: table[m]['l7_steps_per_call'] for m in my_l7_steps_per_call}\n"
             "fewest = min((m for m in table if m != 'none'), key=lambda m: table[m]['proxy_count'])\n"
             "for what, mine, got in [('proxies per call', my_proxies_per_call, measured_hops),\n"
             "                        ('L7 steps per call', my_l7_steps_per_call, measured_l7)]:\n"
             "    ok = all(abs(mine[m] - got[m]) < 0.01 for m in mine)\n"
             "    print('✔' if ok else '✘', what, '- measured:', got)\n"
             "print('✔' if my_fewest_proxies == fewest else '✘', 'fewest proxy processes - measured:', fewest,\n"
             "      {m: table[m]['proxy_count'] for m in table})"),
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
        code("for m in ('sidecar', 'ambient', 'ambient+waypoint'):\n"
             "    a = table[m]['added_latency_ms']\n"
             "    print(f\"{m:<18} added here: p90 {a['p90']:.2f} ms, p99 {a['p99']:.2f} ms   \"\n"
             "          f\"every mesh hop mTLS: {table[m]['all_mesh_hops_mtls']}\")"),
        md("## 5. Try it yourself\n\nA control panel on a running Bookinfo: switch the mesh mode (watch which "
           "pods restart), give reviews a waypoint (ambient only), send traffic, and read one request's path. "
           "The panel shows the Kubernetes/Istio YAML each change corresponds to."),
        code("from meshlab.widgets import ControlPanel\n"
             "lab = Lab('bookinfo', mode='ambient').start()\n"
             "ControlPanel(lab)"),
        md("When you are done, stop the lab (it also stops by itself when the kernel shuts down)."),
        code("lab.stop()"),
        md("## What you learned\n\n- Sidecar mode puts an L7 proxy in every pod: two L7 steps per call, one proxy "
           "process per pod.\n- Ambient mode moves mTLS and identity to one L4 ztunnel per node (HBONE: HTTP/2 "
           "CONNECT over mTLS) and parses HTTP only where you ask for it, in a shared waypoint.\n- Behind a "
           "waypoint, the destination sees the *waypoint's* identity.\n- Every number here was measured on real "
           "processes and sockets; the lab labels what it simplifies."),
    ]


NOTEBOOKS = {"00-start-here.ipynb": start_here, "01-sidecar-vs-ambient.ipynb": sidecar_vs_ambient}


def stable_ids(cells: list) -> list:
    """Cell ids from the cells' text (nbformat draws random ones), so that regenerating an
    unchanged notebook changes nothing and a diff shows only the cells that changed."""
    seen: dict[str, int] = {}
    for c in cells:
        h = hashlib.sha1(f"{c.cell_type}:{c.source}".encode()).hexdigest()[:8]
        seen[h] = seen.get(h, 0) + 1
        c.id = h if seen[h] == 1 else f"{h}-{seen[h]}"
    return cells


def main():
    NB.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=stable_ids(cells()), metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        nbformat.write(nb, NB / name)
        print("wrote", NB / name)


if __name__ == "__main__":
    main()
