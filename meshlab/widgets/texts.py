"""Every text the control panel writes: the Istio YAML it shows for a change, a traffic policy in
words, the help beside the controls, and HTML escaping. No widgets, no lab."""

from __future__ import annotations

import yaml as _yaml

from ..policy import builder

#: What each mesh-wide mTLS choice means (a PeerAuthentication in the root namespace, or none).
MTLS_LABELS = {
    "UNSET": "UNSET: no policy (Istio's default, PERMISSIVE)",
    "PERMISSIVE": "PERMISSIVE: mTLS and plaintext accepted",
    "STRICT": "STRICT: mTLS only, plaintext refused",
    "DISABLE": "DISABLE: no mTLS (sidecars; ambient ignores it)",
}

#: The help under the retry and timeout controls.
RETRY_HELP = (
    "<small>timeout 0 s: no timeout (Istio's default). Retry attempts: <i>Istio default</i> is "
    "2 retries on connect-failure, refused-stream, unavailable, cancelled, "
    "retriable-status-codes; "
    "an empty retryOn with a number keeps those conditions.</small>"
)
WEIGHTS_HEADING = "<b>traffic weights</b> by version (a DestinationRule defines the subsets; all 0: no split)"
MTLS_HELP = (
    "<small>mesh mTLS is a PeerAuthentication in istio-system: what servers accept. "
    "Clients in the "
    "mesh send mTLS whenever the server has a proxy (auto mTLS).</small>"
)


def retry_on_help() -> str:
    """What each retryOn condition retries (Envoy's meaning), folded away."""
    return (
        "<details><summary><small>what each retryOn condition retries (Envoy)</small></summary>"
        "<small>"
        + "<br>".join(f"<b>{k}</b>: {html(builder.RETRY_ON_MEANING[k])}" for k in sorted(builder.RETRY_ON))
        + "</small></details>"
    )


def mode_yaml(namespaces: list[str], mode: str) -> str:
    """The Namespace labels that put these namespaces in ``mode``, as YAML."""
    return dump(builder.namespace_labels(namespaces, mode))


def waypoint_yaml(namespace: str, services: list[str]) -> str:
    """A waypoint Gateway (as ``istioctl waypoint generate``) and the services' enrollment labels."""
    if not services:
        return "# no service uses a waypoint"
    return dump(
        [
            builder.waypoint_gateway(namespace=namespace),
            *(builder.use_waypoint(s, namespace) for s in services),
        ]
    )


def dump(docs: list[dict]) -> str:
    return _yaml.safe_dump_all(docs, sort_keys=False).strip()


def describe(s: builder.RouteSettings) -> str:
    if s.is_default:
        return "Istio's defaults"
    parts = []
    if s.attempts is not None:
        parts.append(f"{s.attempts} retries" + (f" on {','.join(s.retry_on)}" if s.retry_on else ""))
    if s.timeout_s:
        parts.append(f"timeout {s.timeout_s:g} s")
    if s.delay_percent:
        parts.append(f"delay {s.delay_s:g} s on {s.delay_percent:g}%")
    if s.abort_percent:
        parts.append(f"abort {s.abort_status} on {s.abort_percent:g}%")
    if any(s.weights.values()):
        parts.append("weights " + "/".join(f"{k} {v}" for k, v in s.weights.items() if v))
    return ", ".join(parts)


def html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
