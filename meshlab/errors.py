"""meshlab's exceptions, in one tree.

    MeshlabError
    ├── TopologyError      a topology file is wrong (file, line, field, what is allowed)
    ├── PolicyError        an Istio policy document is wrong or unsupported (file, document, line, field)
    ├── LabError           the lab cannot do what was asked (bad argument, not started, ...)
    │   └── PortConflict   an address:port a pod needs is taken by another process
    ├── WorkerError        a pod's process failed or answered with an error
    ├── ExportError        meshlab export cannot write the scenario as asked      (meshlab.export)
    └── DataPlaneError     inside a pod's process: bytes, a peer or a name the data plane cannot handle
        ├── HttpError            not HTTP/1.1 this side can handle; answered with .status  (meshlab.net.httpparse)
        ├── ProxyProtocolError   not a PROXY v2 header (also a ValueError)                  (meshlab.net.proxyproto)
        ├── DnsError             not a name in the cluster (also an OSError)                (meshlab.net.dialer)
        ├── StartupError         a process's setup failed; reported to the lab, then exit    (meshlab.net.control)
        ├── TunnelError          an HBONE stream or tunnel failed (also a ConnectionError)   (meshlab.proxy.hbone)
        └── UpstreamFailure      an upstream attempt failed, .kind as Envoy's retries see it (meshlab.proxy.upstream)

Every message names the culprit and, where there is one, the fix. The data-plane errors live beside
the code that raises them and are caught there (turned into a status, a reset, a span or an error
event), so a learner meets them in a pod's log or a span, not as a traceback.
"""

from __future__ import annotations


class MeshlabError(Exception):
    """Base class of every error meshlab raises on purpose."""


class TopologyError(MeshlabError, ValueError):
    """A topology file or dict is invalid.

    ``file``, ``line`` (1-based, or None) and ``field`` (a path such as
    ``workloads[2].node``) say where; the message says what is allowed.
    """

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, field: str | None = None
    ):
        self.file = file
        self.line = line
        self.field = field
        self.reason = message
        where = file or "<topology>"
        if line is not None:
            where += f":{line}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {message}")


class PolicyError(MeshlabError, ValueError):
    """An Istio policy (VirtualService, DestinationRule, PeerAuthentication, AuthorizationPolicy,
    waypoint Gateway, Namespace or Service labels) is invalid, unsupported, or does not fit the
    running lab. ``document`` is the 1-based document number in a multi-document file; ``what``
    names the object (``VirtualService default/reviews``) when it is known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        document: int | None = None,
        what: str | None = None,
    ):
        self.file, self.line, self.field, self.document, self.what = file, line, field, document, what
        self.reason = message
        where = file or "<policy>"
        if document is not None:
            where += f": document {document}"
        if what:
            where += f" ({what})"
        if line is not None:
            where += f", line {line}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {message}")


class LabError(MeshlabError):
    """The lab was asked for something it cannot do in its current state."""


class PortConflict(LabError):
    """A pod's listening address is already in use by some other process."""


class WorkerError(MeshlabError):
    """A pod's process died, failed to start, or answered a control call with an error."""


class DataPlaneError(MeshlabError):
    """Raised and handled inside a pod's process (an app or a proxy): see the tree above."""
