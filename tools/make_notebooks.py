"""Write the notebooks in notebooks/ from the cell lists below (so they diff and review as code).

    .venv/bin/python tools/make_notebooks.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NB = Path(__file__).resolve().parent.parent / "notebooks"


def start_here():
    md, code = new_markdown_cell, new_code_cell
    return [
        md("# 00 · Start here\n\n"
           "**Goal:** bring up a small Kubernetes-like cluster running Istio's *Bookinfo* sample, send it real "
           "HTTP traffic, and read each request's **path** hop by hop — with no mesh yet. Every later exercise "
           "adds a mesh (sidecars, or ztunnels and waypoints) to this same cluster and compares against what you "
           "measure here.\n\n"
           "Navigation: **00 start here** · 01 sidecar vs ambient *(coming)* · 02 waypoints *(coming)* · "
           "03 mTLS *(coming)* · 04 retries and timeouts *(coming)*"),
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


def main():
    NB.mkdir(exist_ok=True)
    nb = new_notebook(cells=start_here(), metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.write(nb, NB / "00-start-here.ipynb")
    print("wrote", NB / "00-start-here.ipynb")


if __name__ == "__main__":
    main()
