"""Link shaping from the topology's ``links:`` (every node's uplink, or one node's own): applied on
mininet — bandwidth with HTB through Mininet's TCLink, delay and loss with netem where the kernel
has it, and a note where it has not — and reported as not applied on loopback."""

import re

import pytest

from meshlab import Lab
from meshlab.backends.shaping import netem_available

pytestmark = pytest.mark.integration

TOPO = {
    "name": "shaped",
    "links": {"bandwidth_mbit": 10},
    "nodes": [{"name": "node-1"}, {"name": "node-2", "links": {"delay_ms": 20}}],
    "namespaces": [{"name": "default"}],
    "services": [{"name": "server", "port": 8000, "targetPort": 8080, "selector": {"app": "server"}}],
    "workloads": [
        {"name": "client", "node": "node-1", "app": {"kind": "client"}},
        {"name": "server", "node": "node-2", "app": {"kind": "httpbin"}},
    ],
    "entry": {"from": "client", "url": "http://server:8000/get"},
}


def test_each_nodes_uplink_is_shaped_on_mininet(mininet_required, capsys):
    """The bandwidth limit is an HTB qdisc on each node's eth0 (its side of the underlay), which
    the request crossed; a pod's link to its own node is not shaped. The delay asked for node-2
    is netem there — or, in a kernel without netem, left out with one note saying so."""
    with Lab(TOPO, backend="mininet") as lab:
        assert lab.request().status == 200
        for node in ("node-1", "node-2"):
            qdisc = lab.exec(node, "tc -s qdisc show dev eth0")
            assert "qdisc htb 5: root" in qdisc, qdisc
            assert int(re.search(r"Sent (\d+) bytes", qdisc).group(1)) > 0, qdisc
            assert "rate 10Mbit" in lab.exec(node, "tc class show dev eth0")
        assert "htb" not in lab.exec("client", "tc qdisc show dev eth0")
        node2 = lab.exec("node-2", "tc qdisc show dev eth0")
        netem_notes = [n for n in lab.backend.notes if "netem" in n]
        if netem_available():
            assert "netem" in node2 and "delay 20ms" in node2, node2
            assert netem_notes == []
        else:
            assert "netem" not in node2
            (note,) = netem_notes
            assert note.startswith("this kernel has no netem") and "(node-2: 20 ms delay)" in note
            assert "bandwidth limits still apply" in note
            assert capsys.readouterr().out.count("no netem") == 1  # said once, at start


def test_links_are_not_applied_on_loopback_and_the_lab_says_so(capsys):
    with Lab(TOPO, backend="loopback") as lab:
        (note,) = lab.backend.notes
        assert "links are not applied" in note and "node-1: 10 Mbit/s; node-2: 10 Mbit/s, 20 ms delay" in note
        assert note in capsys.readouterr().out
        assert lab.request().status == 200
