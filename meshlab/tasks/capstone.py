"""Tasks of the capstone (notebook 12): a seeded broken mesh to diagnose and fix, then export.

The lab is Bookinfo over two namespaces with both data planes at once: ``frontend`` (productpage,
the client) keeps its sidecars, ``backend`` (details, reviews, ratings) is in ambient mode. The
configuration the team meant (:data:`BASELINE`) is in force; on top of it each learner's variant
seeds three faults from :data:`FAULTS`, each with its own symptom (a missing part of the page, a
whole page that is plaintext on one hop, ...). The check measures the symptoms again, and checks
that the fix was targeted: the intended configuration still does what it was for.
"""

from __future__ import annotations

from pathlib import Path

from ..exercises import Result, Task, fails

from ..probes import pages, served_by
from ..modes import PROXY_ROLES

FRONTEND, BACKEND = "frontend", "backend"

#: what the team meant: reviews v3 for everyone, STRICT mutual TLS in backend, only reviews may call ratings
BASELINE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: backend}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: backend}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v3}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: backend}
spec:
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings-callers, namespace: backend}
spec:
  selector:
    matchLabels: {app: ratings}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/backend/sa/bookinfo-reviews]
"""

#: the seeded faults: each one object, applied over BASELINE (two of them replace an object of it)
FAULTS = {
    # the subsets' DestinationRule lost v3: productpage's sidecar has no cluster for it (503, flag NC)
    "subset": """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: backend}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""",
    # an L4 DENY at details' ztunnel for productpage's identity (connection refused, DENY)
    "deny": """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: details-deny, namespace: backend}
spec:
  selector:
    matchLabels: {app: details}
  action: DENY
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/frontend/sa/bookinfo-productpage]
""",
    # the client's sidecar told not to use mutual TLS to productpage: PERMISSIVE takes plaintext (no error)
    "plaintext": """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: productpage, namespace: frontend}
spec:
  host: productpage
  trafficPolicy:
    tls: {mode: DISABLE}
""",
    # ratings' ALLOW policy names reviews' account in the wrong namespace: ratings' ztunnel refuses reviews
    "identity": """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings-callers, namespace: backend}
spec:
  selector:
    matchLabels: {app: ratings}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/frontend/sa/bookinfo-reviews]
""",
}


def _keys(yaml_text: str) -> list[tuple]:
    from ..policy.loader import load_policies

    return [o.key for o in load_policies(yaml_text)]


def healthy(lab) -> None:
    """The mesh as the team meant it: backend in ambient mode (frontend keeps its sidecars), BASELINE."""
    lab.set_mode("ambient", namespace=BACKEND)
    lab.apply(BASELINE)


def _broken_setup(lab, params: dict) -> None:
    healthy(lab)
    lab.apply("---\n".join(FAULTS[f] for f in params["faults"]))


def _plaintext_hops(res) -> list[str]:
    """The proxies that took a request or connection in without mutual TLS (inbound hops)."""
    out = []
    for p in res.paths.values():
        for h in p.hops:
            if h.role in PROXY_ROLES and h.direction == "inbound" and not h.mtls:
                out.append(h.name)
    return sorted(set(out))


def _verify_healthy(lab, params: dict, before=None, n: int = 8) -> Result:
    item = "make-the-mesh-healthy"
    problems = []
    res = pages(lab, n, concurrency=2)
    s = res.summary()["requests"]
    broken = res.partial_failures()
    if s["ok"] != n or broken:
        said = "; ".join(f"{k!r} on {v}" for k, v in broken.items())
        problems.append(
            f"pages are not whole: {s['ok']} of {n} answered 200 (by status {s['by_status']})"
            + (f", and pages said {said}" if said else "")
            + ". Follow a page's path (which hop failed, its error) or the proxies' metrics"
        )
    plain = _plaintext_hops(res)
    if plain:
        problems.append(
            f"not mTLS everywhere: {', '.join(plain)} took requests in plaintext (a hop with "
            "mtls=False on the pages' paths); which DestinationRule tells a caller not to use mTLS?"
        )
    by = served_by(res)
    if s["ok"] == n and not broken and by.get("reviews-v3", 0) != n:
        problems.append(
            f"reviews-v3 served {by.get('reviews-v3', 0)} of {n} pages (served: {by}); the team's "
            "route sends every page to v3: keep the VirtualService and its subsets"
        )
    in_force = {o.key: o for o in lab.policies()}
    gone = [f"{kind} {ns}/{name}" for (kind, ns, name) in _keys(BASELINE) if (kind, ns, name) not in in_force]
    if gone:
        problems.append(
            f"not targeted: {', '.join(gone)} {'is' if len(gone) == 1 else 'are'} no longer in force; "
            "fix or delete only the broken objects and keep what the team meant (the task's first "
            "cell puts it all back)"
        )
    pa = in_force.get(("PeerAuthentication", BACKEND, "default"))
    if pa is not None and (pa.spec.get("mtls") or {}).get("mode") != "STRICT":
        problems.append("backend's PeerAuthentication is no longer STRICT: keep mutual TLS required")
    if ("AuthorizationPolicy", BACKEND, "ratings-callers") in in_force:
        pod = next(p["pod"] for p in lab.pods() if p["pod"].startswith("ratings-"))
        direct = lab.request("client", f"http://{lab.pod_ip(pod)}:9080/ratings/0", timeout=5)
        if direct.status == 200:
            problems.append(f"client reached {pod} (200): ratings-callers must still let only reviews in")
    want = {
        p.name: ("ambient" if p.namespace == BACKEND else "sidecar")
        for p in lab.topology.pods
        if lab.mesh[p.name] != "waypoint"
    }
    moved = sorted(n for n, m in want.items() if (lab.mesh[n] or "none") != m)
    if moved:
        problems.append(
            f"{', '.join(moved)} left {'its' if len(moved) == 1 else 'their'} data plane: keep frontend "
            "on sidecars and backend in ambient mode"
        )
    return fails(
        item,
        problems,
        f"{n} of {n} pages were whole, all served by reviews-v3, every proxy took them in "
        "over mutual TLS, and the team's configuration is still in force: the fixes "
        "were targeted",
    )


MAKE_THE_MESH_HEALTHY = Task(
    name="make-the-mesh-healthy",
    goal="Bookinfo runs over two namespaces: frontend (productpage, client) with sidecars, backend (details, "
    "reviews, ratings) in ambient mode. The team meant: every page served by reviews v3, STRICT mutual TLS "
    "in backend, and only reviews allowed to call ratings. Three objects in force are broken: "
    "find each from what the lab measures (pages, paths and their hops, the proxies' metrics, "
    "lab.policies(), lab.warnings) and fix only those — lab.apply() a corrected object or lab.delete() a "
    "wrong one. Then set answer = 'done'.",
    skeleton="(no YAML to fill in: fix the lab with lab.apply(...) or lab.delete(kind=..., name=..., "
    "namespace=...), then answer = 'done'; the check loads 8 pages, reads their paths and what is in force)",
    verify=_verify_healthy,
    setup=_broken_setup,
    answer="lab",
    variants=(
        {"faults": ("subset", "deny", "plaintext")},
        {"faults": ("subset", "identity", "plaintext")},
        {"faults": ("deny", "identity", "plaintext")},
        {"faults": ("subset", "deny", "identity")},
    ),
)


# -- export it ------------------------------------------------------------------------------------


def _load_all(path: Path) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d] if path.exists() else []


def _verify_export(lab, params: dict, value=None) -> Result:
    item = "export-it"
    if not isinstance(value, str) or not value.strip():
        return fails(item, [f"the answer is the folder's path as text ('my-export'), not {value!r}"], "")
    out = Path(value.strip()).expanduser()
    if not out.is_dir():
        return fails(
            item,
            [f"there is no folder {str(out)!r}: run lab.export({str(out)!r}) first, then give that path"],
            "",
        )
    files = sorted(p.name for p in out.iterdir())
    need = [
        f for f in ("00-namespaces.yaml", "10-apps.yaml", "30-policies.yaml", "README.md") if f not in files
    ]
    if need:
        return fails(
            item,
            [
                f"{out} has {files or 'no files'}, not {', '.join(need)}: is it the folder lab.export() "
                "wrote into?"
            ],
            "",
        )
    problems = []
    ns = {
        d["metadata"]["name"]: (d["metadata"].get("labels") or {})
        for d in _load_all(out / "00-namespaces.yaml")
        if d.get("kind") == "Namespace"
    }
    if ns.get(FRONTEND, {}).get("istio-injection") != "enabled":
        problems.append(
            f"Namespace frontend has labels {ns.get(FRONTEND)}: expected istio-injection: enabled (sidecars)"
        )
    if ns.get(BACKEND, {}).get("istio.io/dataplane-mode") != "ambient":
        problems.append(
            f"Namespace backend has labels {ns.get(BACKEND)}: expected istio.io/dataplane-mode: ambient"
        )
    written = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
        for d in _load_all(out / "30-policies.yaml")
    }
    in_force = {o.key for o in lab.policies()}
    missing = sorted(in_force - set(written))
    extra = sorted(set(written) - in_force)
    if missing:
        problems.append(
            "30-policies.yaml lacks "
            + ", ".join(f"{k} {n}/{m}" for k, n, m in missing)
            + ", in force in the lab now: export again after your last change"
        )
    if extra:
        problems.append(
            "30-policies.yaml has "
            + ", ".join(f"{k} {n}/{m}" for k, n, m in extra)
            + ", no longer in force in the lab: export again after your last change"
        )
    seeded = [f"{k} {n}/{m}" for k, n, m in written if (k, n, m) not in _keys(BASELINE)]
    if seeded:
        problems.append(
            f"the export carries {', '.join(seeded)}, which the team did not mean: a broken mesh "
            "exported is a broken cluster"
        )
    from ..policy.loader import load_policies

    for fault in FAULTS.values():
        o = load_policies(fault)[0]
        if o.key in _keys(BASELINE) and o.key in written and written[o.key].get("spec") == o.doc.get("spec"):
            problems.append(
                f"{o.kind} {o.namespace}/{o.name} in the export is the broken one, not the team's"
            )
    return fails(
        item,
        problems,
        f"{out} holds the namespaces with their mesh labels (frontend sidecars, backend "
        f"ambient) and the {len(written)} objects in force: `kubectl apply -f {out}` on a "
        "cluster with Istio's ambient profile (see its README.md)",
    )


EXPORT_IT = Task(
    name="export-it",
    goal="The mesh is healthy (the task's first cell sets it up as the capstone's fix left it). Export it for a "
    "real cluster with lab.export(folder), read what it wrote, and give the folder's path as your answer.",
    skeleton="___",
    verify=_verify_export,
    setup=lambda lab, params: healthy(lab),
    answer="value",
)

TASKS = {t.name: t for t in (MAKE_THE_MESH_HEALTHY, EXPORT_IT)}
