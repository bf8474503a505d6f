"""The iptables tables the mininet backend loads, and the pcap reader, as pure data."""

import struct

from meshlab.backends.rules import node_rules, node_transparent_setup, sidecar_pod_rules
from meshlab.net.interception import by_iptables, inbound_listeners, listen_ip
from meshlab.net.cluster import ClusterNet, PodAddr, ServiceAddr
from meshlab.telemetry.pcap import read_pcap, readable


def _net(mesh):
    pods = (
        PodAddr("a-0", "default", "node-1", "10.100.1.2", ports=(9080,), mesh=mesh),
        PodAddr("b-0", "default", "node-1", "10.100.1.3", ports=(9080,), mesh=mesh),
        PodAddr("c-0", "default", "node-2", "10.100.2.2", ports=(9080,), mesh=mesh),
    )
    svc = ServiceAddr("b", "default", "10.100.250.1", 9080, 9080, ("b-0", "c-0"))
    return ClusterNet(
        pods,
        (svc,),
        {"node-1": "10.100.1.1", "node-2": "10.100.2.1"},
        kube_proxy="kernel",
        interception="iptables",
    )


def test_sidecar_pod_rules_are_istio_inits():
    """Outbound to 15001, inbound to 15006, UID 1337 and 127.0.0.6 let through, 15008/15090/15021/15020 skipped."""
    t = sidecar_pod_rules()
    assert t.startswith("*nat") and t.rstrip().endswith("COMMIT")
    assert "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in t
    assert "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006" in t
    assert "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN" in t
    assert "-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN" in t
    for port in (15008, 15090, 15021, 15020):
        assert f"-A ISTIO_INBOUND -p tcp -m tcp --dport {port} -j RETURN" in t


def test_node_rules_dnat_every_endpoint_with_kube_proxys_probabilities():
    """Two endpoints: the first taken with probability 1/2, the last unconditionally."""
    t = node_rules(_net(None), "node-1")
    assert (
        '-A KUBE-SERVICES -d 10.100.250.1/32 -p tcp -m comment --comment "default/b" -m tcp --dport 9080' in t
    )
    assert "--probability 0.50000000000" in t
    assert t.count("-j DNAT --to-destination") == 2
    assert "ZTUNNEL_PREROUTING -s" not in t  # no ambient pods: nothing redirected


def test_node_rules_redirect_only_the_nodes_own_ambient_pods_to_ztunnel():
    t = node_rules(_net("ambient"), "node-1")
    assert "-A ZTUNNEL_PREROUTING -s 10.100.1.2/32 -p tcp -j REDIRECT --to-ports 15001" in t
    assert (
        "-A ZTUNNEL_PREROUTING -d 10.100.1.3/32 -p tcp -m tcp --dport 15008 -j REDIRECT --to-ports 15008" in t
    )
    assert "10.100.2.2/32" not in t  # node-2's pod: node-2's business
    # service b's endpoints: b-0 is node-1's ambient pod, so kube-proxy's choice of it goes to
    # ztunnel (15006) at once; c-0 sits on node-2, whose own rules capture it
    assert t.count("-j REDIRECT --to-ports 15006\n") == 1 + 2  # b-0's endpoint rule, a-0 and b-0 inbound
    assert "-j DNAT --to-destination 10.100.2.2:9080" in t and "--to-destination 10.100.1.3" not in t
    assert t.index("-A PREROUTING -j ZTUNNEL_PREROUTING") < t.index("-A PREROUTING -j KUBE-SERVICES")


def test_replies_to_ztunnels_transparent_sockets_are_routed_to_the_node():
    """The mark set on packets a transparent socket owns is the one the policy route looks up."""
    mangle, rule, route = node_transparent_setup()
    assert "-t mangle -A PREROUTING -p tcp -m socket --transparent -j MARK --set-mark 0x539" in mangle
    assert (
        rule == "ip rule add fwmark 0x539 lookup 133"
        and route == "ip route add local 0.0.0.0/0 dev lo table 133"
    )


def test_capture_helpers_follow_the_nets_interception():
    net = _net("sidecar")
    pod = net.pods[0]
    assert by_iptables(net) and listen_ip(pod, net) == "0.0.0.0" and inbound_listeners(pod, net) == [15006]
    lo = ClusterNet(net.pods, net.services, net.nodes)
    assert not by_iptables(lo) and listen_ip(pod, lo) == pod.ip and inbound_listeners(pod, lo) == [9080]


def _pcap(payloads):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, (sport, dport, data) in enumerate(payloads):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 5 << 4, 0x18, 1000, 0, 0) + data
        ip = (
            struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(tcp),
                0,
                0,
                64,
                6,
                0,
                bytes([10, 0, 0, 1]),
                bytes([10, 0, 0, 2]),
            )
            + tcp
        )
        frame = b"\0" * 12 + b"\x08\x00" + ip
        out += struct.pack("<IIII", 1, i, len(frame), len(frame)) + frame
    return out


def test_pcap_reader_says_what_is_readable_on_the_wire():
    pkts = read_pcap(
        _pcap(
            [
                (40000, 9080, b"GET /productpage HTTP/1.1\r\nhost: x\r\n\r\n"),
                (9080, 40000, b"HTTP/1.1 200 OK\r\n\r\n"),
                (40001, 15008, b"\x17\x03\x03\x00\x10" + b"x" * 16),
            ]
        )
    )
    assert [p.what for p in pkts] == [
        "HTTP GET /productpage HTTP/1.1",
        "HTTP HTTP/1.1 200 OK",
        "TLS application data",
    ]
    assert pkts[0].src == "10.0.0.1:40000" and pkts[0].dst == "10.0.0.2:9080" and pkts[0].flags == "AP"
    assert readable(b"\x16\x03\x01\x02\x00") == "TLS handshake" and readable(b"\x00\x01") == "opaque bytes"
