"""Notebook 00-start-here: the cells ``tools/make_notebooks.py`` writes."""

from nbformat.v4 import new_code_cell, new_markdown_cell

from common import check_setup, nav, next_link, task_cells

NAME = "00-start-here"
TITLE = "00 start here"


def cells() -> list:
    md, code = new_markdown_cell, new_code_cell
    return [
        md(
            "# 00 · Start here\n\n"
            "**Goal:** bring up a small Kubernetes-like cluster running Istio's *Bookinfo* sample, send it real "
            "HTTP traffic, and read each request's **path** hop by hop — with no mesh yet. Every later exercise "
            "adds a mesh (sidecars, or ztunnels and waypoints) to this same cluster and compares against what you "
            "measure here.\n\n" + nav("00-start-here")
        ),
        md(
            "## 1. Environment check\n\nWhich backend runs the lab here, and why. On Binder (no root) it is always "
            "the **loopback** backend: every pod is its own process with its own address in 127.0.0.0/8."
        ),
        code(
            "import sys, platform\n"
            "import meshlab\n"
            "from meshlab.backends import mininet_status\n"
            "print('Python', platform.python_version(), '· meshlab', meshlab.__version__)\n"
            "ok, why = mininet_status()\n"
            "print('mininet backend:', 'available on this machine (these notebooks use loopback, the default '\n"
            "      \"everywhere; pass backend='mininet' to Lab to use it)\" if ok else f'not available ({why}): the '\n"
            "      'notebooks use the loopback backend')"
        ),
        md(
            "## 2. Start Bookinfo\n\nThe topology file `topologies/bookinfo.yaml` describes the cluster: two nodes, "
            "the four Bookinfo services on port 9080, reviews in three versions, and a `client` pod to send from. "
            "Starting the lab starts one OS process per pod."
        ),
        code(
            "from meshlab import Lab\n"
            "lab = Lab('bookinfo').start()\n"
            "print(f'up in {lab.startup_s:.2f} s (measured)')\n"
            "for row in lab.pods():\n"
            "    print(f\"{row['pod']:<18} {row['node']:<7} {row['ip']:<15} sa {row['service_account']:<22} \"\n"
            "          f\"ports {row['ports']}  pid {row['pid']}\")"
        ),
        md(
            "Each pod runs as a Kubernetes **service account** (`sa`): in a mesh that is its identity, the "
            "`spiffe://cluster.local/ns/<namespace>/sa/<service account>` in its certificate. The `client` pod "
            "runs as `curl`, as Istio's curl sample does (the getting-started policies name it), so the paths "
            "below say *mTLS from curl* for the hops its requests reach."
        ),
        md(
            "## 3. One request, hop by hop\n\nThe client asks for the product page. Each app records a span for the "
            "request it handled; the lab puts them back together into the request's **path**. Times are measured "
            "(each app also has a configured service time of 1 ms, which is emulated work)."
        ),
        code("r = lab.request('client', 'http://productpage:9080/productpage')\nr"),
        md(
            "The same request as a **waterfall**: a bar per hop, over the time the client waited, indented by who "
            "called whom. Every time is measured (each app also spends its configured 1 ms of emulated work)."
        ),
        code(
            "from meshlab.viz import path_figure\n"
            "path_figure(r.path, title=f'the first request: {r.status} in {r.latency_ms:.1f} ms, no mesh')"
        ),
        md(
            "### Predict, then run\n\n"
            "productpage calls `reviews` through its Kubernetes service, which has **three** pods (v1, v2, v3) and "
            "no routing rules. Out of 60 page loads, how many *different* reviews pods do you expect to answer? "
            "Put your answer in `my_q1`, then run the next two cells."
        ),
        code(
            check_setup('00-start-here')
            + "my_q1 = None   # your prediction: how many different reviews pods answer? (a number)"
        ),
        code(
            "res = lab.load(requests=60, concurrency=2)\n"
            "for g in res.path_groups():\n"
            "    print(f\"{g['count']:>3} x  \" + ' -> '.join(h['name'] for h in g['hops']))\n"
            "answered = {h['name'] for g in res.path_groups() for h in g['hops'] if h['name'].startswith('reviews-')}\n"
            "print()\n"
            "check('q1', my_q1, len(answered), f'{len(answered)} reviews pods answered: {sorted(answered)}.')"
        ),
        md(
            "<details><summary>Hint</summary>\n\nWith no mesh, kube-proxy picks one of the service's ready pods "
            "for every new connection, at random. productpage opens a new connection for every call.\n</details>\n\n"
            "<details><summary>Solution</summary>\n\nAll three. 60 calls, each to one of 3 pods at random: the "
            "chance that some pod is never picked is about 3 × (2/3)<sup>60</sup>, one in ten billion.\n</details>\n\n"
            "<details><summary>Why do only some paths reach ratings?</summary>\n\nreviews v1 never calls ratings; v2 "
            "(black stars) and v3 (red stars) do — exactly as in Istio's Bookinfo.\n</details>"
        ),
        md("## 4. Latency of the whole page"),
        code(
            "s = res.summary()\n"
            "print('requests:', s['requests'])\n"
            "print('latency (ms):', {k: s['latency_ms'][k] for k in ('p50', 'p90', 'p99')})"
        ),
        md(
            "## 5. Stop the lab\n\nStopping ends every pod process and removes everything the lab created. "
            "(If the kernel dies instead, the pods notice and exit on their own; `meshlab clean` removes any "
            "leftover state.)"
        ),
        code("lab.stop()\nlab"),
        md(
            "## 6. Your first task: one version of reviews\n\nEvery later notebook changes the cluster with "
            "Kubernetes and Istio YAML, as `kubectl apply` would. Try it now, on a fresh lab with no mesh: send "
            "every call to reviews to one version (the goal below names yours: each learner gets their own, set "
            "by `MESHLAB_LEARNER` or JupyterHub's user name; with neither, Istio's v3). Copy the skeleton into "
            "`answer`, fill in every `___`, and run the check. It applies your YAML to the running lab, loads the "
            "product page 20 times and reads off each request's path which reviews pod served it. A blank or wrong "
            "answer fails and says what went wrong; your attempts are recorded in `meshlab-progress.jsonl` beside "
            "this notebook."
        ),
        *task_cells(
            "00-start-here", "reviews-to-one-version", "lab = Lab('bookinfo', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nA VirtualService is read by the mesh's proxies, and there are none "
            "yet: the namespace label enrolls the pods. Istio has two: `istio-injection: enabled` (a sidecar in "
            "every pod, which parses HTTP) and `istio.io/dataplane-mode: ambient` (ztunnel, which does not: notebook "
            "02 adds the waypoint that would).\n</details>\n\n"
            "<details><summary>Solution</summary>\n\n`istio-injection`, `enabled`, and your version (`v3` for "
            "Istio's own `virtual-service-reviews-v3.yaml`). Injection happens when a pod is created: in Istio the "
            "label changes no running pod, and you restart the pods (`kubectl rollout restart`); the lab restarts "
            "them for you, at once, and their sidecars apply the route. With the ambient label the check fails "
            "and says why.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## 7. Your second task: a mesh with no pod restarts\n\nIstio's page *Sidecar or ambient?* puts "
            "onboarding this way: sidecar mode means \"label a namespace and restart all pods\", ambient mode "
            "\"label a namespace – no pod restart required\" "
            "([dataplane modes](https://istio.io/latest/docs/overview/dataplane-modes/)). Bring the namespace into "
            "the mesh so that every call between pods is mutual TLS, without restarting a pod. The check notes "
            "every pod's process before applying your YAML, then loads the page 10 times and looks at every "
            "call's hops."
        ),
        *task_cells(
            "00-start-here", "mesh-without-restarts", "lab = Lab('bookinfo', verbose=False).start()\n"
        ),
        md(
            "<details><summary>Hint</summary>\n\nOne label does it. Which of the two modes puts the proxy *outside* "
            "the pod?\n</details>\n\n<details><summary>Solution</summary>\n\n`istio.io/dataplane-mode: ambient`: "
            "the node's ztunnel starts carrying the pods' connections (HBONE, mutual TLS) and no pod is touched. "
            "`istio-injection: enabled` also gives mutual TLS, but a pod gets its sidecar only when it is "
            "recreated (in Istio you run `kubectl rollout restart`; the lab recreates every pod for you), and "
            "the check names them.\n</details>"
        ),
        code("lab.stop()"),
        md(
            "## What you learned\n\n- A *topology* is data; a *lab* runs it on a *backend*, one process per pod.\n"
            "- A request's *path* is rebuilt from the spans each hop emitted, with measured times.\n"
            "- Without a mesh, kube-proxy spreads connections over a service's pods at random, and the apps' own "
            "code decides timeouts and retries.\n"
            "- A VirtualService does nothing without a proxy that parses HTTP to apply it.\n"
            "- A namespace joins the mesh by a label: sidecar injection needs every pod recreated (the lab does it "
            "for you; in Istio, `kubectl rollout restart`), ambient enrollment touches none.\n\n"
            + next_link(NAME, "add a mesh and see what changes on the same paths")
        ),
    ]
