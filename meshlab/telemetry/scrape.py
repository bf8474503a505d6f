"""A proxy's Prometheus metrics, scraped as Prometheus would: ``GET /stats/prometheus`` on its admin
port (15020, Istio's merged-metrics port), over a socket the caller connects from the right network
(a pod's, or its node's; on mininet, inside the namespace)."""

from __future__ import annotations

import http.client
import socket
from typing import Callable

PATH = "/stats/prometheus"


def scrape(
    connect: Callable[[tuple[str, int]], socket.socket], ip: str, port: int, timeout: float = 10.0
) -> str:
    """The metrics text at ``ip:port``; ``connect((ip, port))`` returns a connected socket. Raises
    OSError (with what went wrong) for a refused or cut connection, an HTTP error or a bad response."""
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.sock = connect((ip, port))
        conn.request("GET", PATH)
        r = conn.getresponse()
        body = r.read().decode()
        if r.status != 200:
            raise OSError(f"HTTP {r.status}: {body[:200]}")
        return body
    except http.client.HTTPException as e:
        raise OSError(f"{type(e).__name__}: {e}") from None
    finally:
        conn.close()
