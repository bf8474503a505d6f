"""What a lab process is told when it starts: one typed, frozen spec per kind of process, written by
the supervisor (:mod:`meshlab.supervisor`) and read back as the same type by the process
(:mod:`meshlab.apps.worker`, :mod:`meshlab.proxy.main`), so that neither side re-reads a loose dict.

On the control channel a spec is one JSON line (:meth:`message`): its fields, plus the cluster
network (``"net"``: whole, or a reference to the copy the process inherited at fork time) and the
process's random seed (``"seed"``), which :mod:`meshlab.net.control` takes before the spec is read.
A spec that does not read (a field missing or of the wrong type) is a :class:`~meshlab.net.control.StartupError`
naming the field: the process reports it and exits, and the lab raises it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..topology.model import AppSpec, Call, Pod
from .control import StartupError
from ..modes import PROXY_ROLES


def _need(d: dict, key: str, tp, what: str):
    v = d.get(key)
    if not isinstance(v, tp):
        raise StartupError(
            f"{what} spec: field {key!r} is {type(v).__name__}, expected {getattr(tp, '__name__', tp)}"
        )
    return v


@dataclass(frozen=True)
class PodSpec:
    """An app pod's process: its pod, the ports it serves, its app (kind, service time, calls, params)."""

    pod: str
    ports: tuple[int, ...]
    app: AppSpec

    @classmethod
    def of(cls, pod: Pod) -> "PodSpec":
        return cls(pod.name, tuple(pod.ports), pod.app)

    def message(self, *, net: dict, seed: str | None = None) -> dict:
        app = {
            "kind": self.app.kind,
            "service_time": self.app.service_time,
            "calls": [asdict(c) for c in self.app.calls],
            "params": dict(self.app.params),
        }
        return {"pod": self.pod, "ports": list(self.ports), "app": app, "net": net, "seed": seed}

    @classmethod
    def from_message(cls, d: dict) -> "PodSpec":
        app = _need(d, "app", dict, "app pod")
        try:
            calls = tuple(Call(**c) for c in app.get("calls", ()))
        except TypeError as e:
            raise StartupError(f"app pod spec: a call does not read: {e}") from None
        return cls(
            _need(d, "pod", str, "app pod"),
            tuple(_need(d, "ports", list, "app pod")),
            AppSpec(
                kind=_need(app, "kind", str, "app"),
                service_time=float(app.get("service_time", 0.0)),
                calls=calls,
                params=app.get("params", {}),
            ),
        )


@dataclass(frozen=True)
class ProxySpec:
    """A proxy's process. A sidecar or a waypoint has a ``pod`` and one identity (``cert``,
    ``key``); a ztunnel has a ``node`` and the identities of its node's ambient pods (``certs``:
    SPIFFE id -> (cert, key) paths). Every proxy gets the CA's ``root`` and the Istio objects in
    force (``policies``: :meth:`meshlab.policy.loader.PolicyObject.to_record` records)."""

    role: str
    root: str
    policies: tuple[dict, ...] = ()
    pod: str | None = None
    node: str | None = None
    cert: str | None = None
    key: str | None = None
    certs: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self):
        if self.role not in PROXY_ROLES:
            raise StartupError(f"unknown proxy role {self.role!r}; roles: {', '.join(PROXY_ROLES)}")
        if self.role == "ztunnel" and not self.node:
            raise StartupError("a ztunnel's spec needs its node")
        if self.role != "ztunnel" and not (self.pod and self.cert and self.key):
            raise StartupError(f"a {self.role}'s spec needs its pod, cert and key")

    @property
    def where(self) -> str:
        """The node (a ztunnel) or pod (a sidecar or waypoint) the proxy serves from."""
        return self.node if self.role == "ztunnel" else self.pod

    def message(self, *, net: dict, seed: str | None = None) -> dict:
        d = {k: v for k, v in asdict(self).items() if v is not None}
        d["policies"] = list(self.policies)
        d["certs"] = {k: list(v) for k, v in self.certs.items()}
        return {**d, "net": net, "seed": seed}

    @classmethod
    def from_message(cls, d: dict) -> "ProxySpec":
        opt = {k: _need(d, k, str, "proxy") for k in ("pod", "node", "cert", "key") if d.get(k) is not None}
        certs = _need(d, "certs", dict, "proxy") if "certs" in d else {}
        return cls(
            role=_need(d, "role", str, "proxy"),
            root=_need(d, "root", str, "proxy"),
            policies=tuple(_need(d, "policies", list, "proxy")) if "policies" in d else (),
            certs={k: tuple(v) for k, v in certs.items()},
            **opt,
        )
