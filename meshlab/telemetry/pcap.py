"""A captured link as a pcap file plus a small table of what could be read on the wire.

:func:`read_pcap` parses classic pcap (what ``tcpdump -w`` writes; Ethernet, IPv4, TCP) with no
dependency; :func:`readable` says what a payload shows an eavesdropper: an HTTP request or status
line in the clear, a TLS record (handshake or encrypted application data), or opaque bytes.
Wireshark and tshark open the same file.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

#: Captures recorded on the mininet backend and shipped for where it cannot run (tools/record_capture.py)
RECORDINGS_DIR = Path(__file__).resolve().parents[2] / "recordings"

_TLS_TYPES = {20: "TLS change-cipher-spec", 21: "TLS alert", 22: "TLS handshake", 23: "TLS application data"}
_HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"PATCH ", b"OPTIONS ", b"CONNECT ")


@dataclass(frozen=True)
class Packet:
    time: float
    src: str  # "ip:port"
    dst: str
    flags: str  # "S", "SA", "PA", "F", ...
    length: int  # TCP payload bytes
    what: str  # what is readable: "HTTP GET /productpage", "TLS application data", ...


def readable(payload: bytes) -> str:
    """What a TCP payload shows on the wire."""
    if not payload:
        return ""
    if payload.startswith(_HTTP_METHODS):
        return "HTTP " + payload.split(b"\r\n", 1)[0].decode("latin-1")[:80]
    if payload.startswith(b"HTTP/1."):
        return "HTTP " + payload.split(b"\r\n", 1)[0].decode("latin-1")[:80]
    if len(payload) >= 3 and payload[0] in _TLS_TYPES and payload[1] == 3:
        return _TLS_TYPES[payload[0]]
    if payload.startswith(b"PRI * HTTP/2.0"):
        return "HTTP/2 preface (cleartext)"
    return "opaque bytes"


def _flags(b: int) -> str:
    return "".join(
        c for bit, c in ((0x02, "S"), (0x10, "A"), (0x08, "P"), (0x01, "F"), (0x04, "R")) if b & bit
    )


def read_pcap(data: bytes) -> list[Packet]:
    """TCP/IPv4 packets of a classic pcap file (Ethernet or Linux cooked link types)."""
    if len(data) < 24:
        return []
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    l2 = {1: 14, 113: 16}.get(linktype)
    if l2 is None:
        raise ValueError(f"unsupported pcap link type {linktype} (Ethernet or Linux cooked only)")
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off : off + 16])
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ethertype = struct.unpack("!H", frame[l2 - 2 : l2])[0] if len(frame) >= l2 else 0
        ip = frame[l2:]
        if ethertype != 0x0800 or len(ip) < 20 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport = struct.unpack("!HH", tcp[:4])
        doff = (tcp[12] >> 4) * 4
        payload = tcp[doff:]
        out.append(
            Packet(
                sec + frac / (1e9 if nano else 1e6),
                f"{socket.inet_ntoa(ip[12:16])}:{sport}",
                f"{socket.inet_ntoa(ip[16:20])}:{dport}",
                _flags(tcp[13]),
                len(payload),
                readable(payload),
            )
        )
    return out


@dataclass
class Capture:
    """One capture: where, the pcap file, and its packets."""

    where: str
    intf: str
    path: str
    packets: list[Packet] = field(default_factory=list)

    def readable(self) -> dict[str, int]:
        """How many packets showed each kind of content (payload-carrying packets only)."""
        counts: dict[str, int] = {}
        for p in self.packets:
            if p.what:
                kind = "HTTP (cleartext)" if p.what.startswith("HTTP ") else p.what
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def table(self, limit: int = 20) -> str:
        """A small readable table of the packets that carried data."""
        rows = [p for p in self.packets if p.length]
        t0 = self.packets[0].time if self.packets else 0.0
        lines = [
            f"{len(self.packets)} packets on {self.where} {self.intf} -> {self.path}",
            f"{'t (ms)':>8}  {'from':<21} {'to':<21} {'bytes':>6}  readable on the wire",
        ]
        for p in rows[:limit]:
            lines.append(f"{(p.time - t0) * 1000:8.1f}  {p.src:<21} {p.dst:<21} {p.length:>6}  {p.what}")
        if len(rows) > limit:
            lines.append(f"... {len(rows) - limit} more packets with data")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Capture {self.where} {self.intf}: {len(self.packets)} packets, {self.readable()}>"


@dataclass(frozen=True)
class RecordedCaptures:
    """Captures recorded on another backend (mininet), read back from their pcap files: what a
    notebook shows where it cannot capture, always with :attr:`label` (where and when)."""

    manifest: dict
    captures: list[tuple[dict, Capture]]

    @property
    def label(self) -> str:
        m = self.manifest
        return f"recorded on the {m['backend']} backend, {m['recorded']} (meshlab {m['meshlab']}; {m['machine']})"


def save_recorded(folder: Path, what: str, topology: str, mode: str, captures: list[dict]) -> Path:
    """Write the manifest of a recording made on the mininet backend into ``folder`` (its pcap files
    are there already, each named by its capture's ``pcap``): what :func:`load_recorded` reads, with
    where, when and on what it was recorded."""
    import platform
    import time

    from ..version import __version__

    manifest = {
        "format": 1,
        "what": what,
        "topology": topology,
        "mode": mode,
        "policies": [],
        "backend": "mininet",
        "recorded": time.strftime("%Y-%m-%d"),
        "meshlab": __version__,
        "machine": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "captures": captures,
    }
    path = Path(folder) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def load_recorded(name: str, root: Path | None = None) -> RecordedCaptures:
    """The recording ``name`` (a folder of :data:`RECORDINGS_DIR`): its manifest and each pcap,
    parsed again here — the table is computed from the recorded packets, not stored."""
    folder = (root or RECORDINGS_DIR) / name
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format") != 1:
            raise ValueError(f"format {manifest.get('format')!r}; this meshlab reads format 1")
        caps = [
            (
                c,
                Capture(
                    c["where"],
                    c["intf"],
                    str(folder / c["pcap"]),
                    read_pcap((folder / c["pcap"]).read_bytes()),
                ),
            )
            for c in manifest["captures"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"recording {folder}: {type(e).__name__}: {e}") from None
    return RecordedCaptures(manifest, caps)
