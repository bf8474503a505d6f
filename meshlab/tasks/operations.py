"""Operations (notebook 09): what relabelling a namespace, restarting proxies and holding keys
cost a running mesh — a steady load of pages in the background while the lab changes, the failed
pages counted on the load's own clock — and the tasks that check it.

    d = under_load(lab, lambda: lab.set_mode("sidecar", namespace="backend"))
    d.summary()     # pages sent, failed, restarted pods, how long the change took
    d.figure()      # every page on a time line, failed ones red, the change shaded
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..errors import MeshlabError
from ..exercises import Result, Task, fails
from ..probes import PAGE, calls, pages
from ..identity import spiffe_id


def pids(lab) -> dict[str, int]:
    """Each app pod's process id: a pod whose id changed was recreated."""
    return {row["pod"]: row["pid"] for row in lab.pods() if row["pid"] is not None}


def page_failed(o: dict) -> bool:
    """A page failed: no HTTP success, or a 200 that carries an app's error text (Bookinfo's
    "reviews are currently unavailable")."""
    return not (o["status"] is not None and 200 <= o["status"] < 400) or bool(o.get("partial"))


class BackgroundLoad:
    """``lab.load`` of the product page from the client in a thread of its own, bounded by
    ``seconds`` at ``rate`` pages a second (the load's process sends them; this thread waits)."""

    def __init__(self, lab, seconds: float = 4.0, rate: float = 25, source: str = "client", url: str = PAGE):
        self.result, self.error = None, None
        self.t0 = time.monotonic()

        def run():
            try:
                self.result = lab.load(source, url, duration=seconds, rate=rate, progress=False)
            except MeshlabError as e:  # its client pod was stopped under it, say
                self.error = str(e)

        self._thread = threading.Thread(target=run, name="meshlab-background-load", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 60.0):
        self._thread.join(timeout)
        return self.result


@dataclass
class Disruption:
    """What a change did to a steady load: the load's outcomes, when the change ran (on the
    monotonic clock every process shares), what it returned, and the pods it recreated."""

    load: object  # LoadResult, or None when the load itself was cut
    error: str | None
    started: float  # the load's start
    change: tuple[float, float]  # the change's start and end
    report: object = None
    restarted: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [o for o in (self.load.outcomes if self.load else []) if page_failed(o)]

    def summary(self) -> dict:
        out = self.load.outcomes if self.load else []
        bad = self.failed
        return {
            "pages": len(out),
            "failed": len(bad),
            "restarted": len(self.restarted),
            "change_s": round(self.change[1] - self.change[0], 3),
            # from the first failed page's start to the last one's end: how long pages failed
            "failing_s": round(max(o["end"] for o in bad) - min(o["start"] for o in bad), 3) if bad else 0.0,
            **({"load_error": self.error} if self.error else {}),
        }

    def figure(self, title: str = ""):
        """Every page of the load on a time line (its latency, log scale): failed ones red, the
        change shaded."""
        from matplotlib.figure import Figure

        from ..viz.style import plain_log_ticks

        fig = Figure(figsize=(8, 2.6))
        ax = fig.add_subplot()
        out = self.load.outcomes if self.load else []
        for failed, colour, label in ((False, "tab:green", "page ok"), (True, "tab:red", "page failed")):
            pts = [
                (o["start"] - self.started, (o["end"] - o["start"]) * 1000)
                for o in out
                if page_failed(o) == failed
            ]
            if pts:
                ax.scatter(*zip(*pts), s=10, color=colour, label=f"{label} ({len(pts)})")
        a, b = self.change
        ax.axvspan(
            a - self.started,
            max(b, a + 0.02) - self.started,
            color="tab:orange",
            alpha=0.3,
            label=f"the change ({(b - a) * 1000:.0f} ms)",
        )
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        ax.set_xlabel("seconds since the load started (measured)")
        ax.set_ylabel("page latency, ms")
        ax.set_title(
            title or f"{len(self.failed)} of {len(out)} pages failed; {len(self.restarted)} pods recreated"
        )
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        return fig


def under_load(lab, change, *, seconds: float = 4.0, rate: float = 25, after: float = 1.0) -> Disruption:
    """Run ``change()`` (``lambda: lab.set_mode(...)``, ``lambda: lab.restart(...)``) ``after``
    seconds into a steady load of ``rate`` pages a second for ``seconds``, and say what it did:
    a :class:`Disruption`."""
    before = pids(lab)
    bg = BackgroundLoad(lab, seconds, rate)
    time.sleep(after)
    a = time.monotonic()
    report = change()
    b = time.monotonic()
    bg.join()
    now = pids(lab)
    return Disruption(
        bg.result,
        bg.error,
        bg.t0,
        (a, b),
        report,
        sorted(p for p, pid in before.items() if now.get(p) != pid),
    )


def holders(lab, workload: str) -> list[str]:
    """The proxies that hold the certificate and private key of ``workload``'s identity (its
    service account), as every proxy process reports its own (:meth:`Lab.identities`)."""
    pod = lab.topology.pod(workload)
    sid = spiffe_id(pod.namespace, pod.service_account)
    return sorted(name for name, ids in lab.identities().items() if sid in ids)


# -- task: enroll a namespace under load ----------------------------------------------------------


def _start_load(lab) -> dict:
    """Taken just before the answer is applied: the pods' processes, and a load already running."""
    before = {"pids": pids(lab), "load": BackgroundLoad(lab, seconds=3.0, rate=20)}
    time.sleep(0.8)
    before["change"] = time.monotonic()
    return before


def _verify_enroll(lab, params: dict, before: dict, n: int = 5) -> Result:
    item, ns, budget = "enroll-under-load", params["namespace"], params["max_failed"]
    bg = before["load"]
    bg.join()
    mine = sorted(
        p.name for p in lab.topology.pods if p.namespace == ns and lab.mesh.get(p.name) != "waypoint"
    )
    now = pids(lab)
    restarted = [p for p in mine if now.get(p) != before["pids"].get(p)]
    problems = []
    if restarted:
        problems.append(
            f"{len(restarted)} of {len(mine)} pods of {ns} were recreated ({', '.join(restarted)}): "
            "sidecar injection adds its proxy only when a pod is created (Istio leaves the restart to "
            "you; the lab does it). Which label enrolls a running pod without touching it?"
        )
    if bg.error:
        problems.append(f"the load itself was cut: {bg.error}")
    elif bg.result is not None:
        bad = [o for o in bg.result.outcomes if page_failed(o)]
        if len(bad) > budget:
            problems.append(
                f"{len(bad)} of {len(bg.result.outcomes)} pages failed during the change; "
                f"the budget is {budget}"
            )
    if lab.mesh.get(mine[0]) == "sidecar":  # put it back, so that another answer starts where this one did
        lab.set_mode("none", namespace=ns)
        problems.append(
            f"(the check moved {ns} back to no mesh — recreating its pods once more — so that you "
            "can try again from where the task began)"
        )
    else:
        res = pages(lab, n)
        into = [c for p in res.paths.values() for c in calls(p) if c.app is not None and c.app.name in mine]
        bare = [c for c in into if not c.proxies]
        if not into:
            problems.append(f"no call in {n} pages reached a pod of {ns}")
        elif bare:
            problems.append(
                f"{len(bare)} of {len(into)} calls into {ns} crossed no proxy at all: {ns} is not in the mesh"
            )
    return fails(
        item,
        problems,
        f"{ns} joined the mesh under load: no pod recreated, "
        f"{len(bg.result.outcomes) - len([o for o in bg.result.outcomes if page_failed(o)]) if bg.result else 0} "
        f"of {len(bg.result.outcomes) if bg.result else 0} pages fine during the change, "
        "and every call into it now captured by a proxy",
    )


ENROLL_UNDER_LOAD = Task(
    name="enroll-under-load",
    goal="Pages load steadily (20 a second) while your Namespace is applied: bring the {namespace} namespace "
    "into the mesh — a proxy on every call into its pods — without recreating any of its pods, with at most "
    "{max_failed} failed pages.",
    skeleton="""\
apiVersion: v1
kind: Namespace
metadata:
  name: ___
  labels: {___: ___}
""",
    verify=_verify_enroll,
    before=_start_load,
    variants=(
        {"namespace": "backend", "max_failed": 3},
        {"namespace": "frontend", "max_failed": 3},
        {"namespace": "backend", "max_failed": 2},
    ),
)


# -- task: who holds a workload's key ---------------------------------------------------------------


def _setup_holders(lab, params: dict) -> None:
    """The task's lab: frontend in sidecar mode, backend in ambient (as a migration leaves it)."""
    if lab.mesh.get("productpage-v1-0") != "sidecar":
        lab.set_mode("sidecar", namespace="frontend")
    if lab.mesh.get("details-v1-0") != "ambient":
        lab.set_mode("ambient", namespace="backend")


def _verify_holders(lab, params: dict, answer) -> Result:
    item, workload = "key-holders", params["workload"]
    if isinstance(answer, dict):
        answer = answer.get("holders")
    if isinstance(answer, str):
        answer = [answer]
    if not isinstance(answer, (list, tuple, set)) or not all(isinstance(a, str) for a in answer):
        return fails(item, [f"give a list of proxy names (as lab.proxies names them); got {answer!r}"], "")
    said = {a.strip() for a in answer}
    ids = lab.identities()
    pod = lab.topology.pod(workload)
    sid = spiffe_id(pod.namespace, pod.service_account)
    truth = {name for name, held in ids.items() if sid in held}
    problems = []
    unknown = sorted(said - set(ids))
    if unknown:
        problems.append(f"no proxy named {', '.join(unknown)} (proxies: {', '.join(sorted(ids))})")
    for name in sorted(truth - said):
        same = sorted(
            p.name
            for p in lab.topology.pods
            if (p.namespace, p.service_account) == (pod.namespace, pod.service_account)
            and (name == f"ztunnel-{p.node}" or name.startswith(p.name + "/"))
        )
        problems.append(
            f"{name} holds it too (it serves {', '.join(same)}, service account "
            f"{pod.service_account}: what it holds proves the identity, not one pod)"
        )
    for name in sorted(said & set(ids) - truth):
        problems.append(f"{name} does not hold it: it holds {', '.join(ids[name]) or 'no workload key'}")
    return fails(
        item,
        problems,
        f"{', '.join(sorted(truth))} and no other proxy hold the key of {sid}, as each "
        "proxy reports its own certificates",
    )


KEY_HOLDERS = Task(
    name="key-holders",
    goal="frontend runs sidecars, backend is in ambient mode. An attacker who takes over one proxy holds every "
    "private key that proxy holds. Which proxies hold a key for {workload}'s identity? Name them as "
    "lab.proxies does (reason it out from lab.pods(), then check).",
    skeleton="holders: [___]      # proxy names, comma-separated\n",
    verify=_verify_holders,
    setup=_setup_holders,
    answer="value",
    variants=(
        {"workload": "reviews-v2-0"},
        {"workload": "details-v1-0"},
        {"workload": "productpage-v1-0"},
        {"workload": "ratings-v1-0"},
    ),
)

TASKS = {t.name: t for t in (ENROLL_UNDER_LOAD, KEY_HOLDERS)}
