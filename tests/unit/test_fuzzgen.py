"""The fuzz inputs: the same seed gives the same inputs; each generator makes what it says."""

from meshlab import fuzzgen as gen
from meshlab.net import proxyproto


def test_the_same_seed_gives_the_same_inputs():
    def some(seed):
        d = gen.RandomDraw(seed)
        return [
            g(d)
            for g in (
                gen.http_request,
                gen.http_response,
                gen.proxy_header,
                gen.h2_bad_frames,
                gen.tls_before_handshake,
                gen.tls_after_handshake,
            )
            for _ in range(50)
        ]

    assert some(1) == some(1) != some(2)


def test_each_generator_makes_its_kind():
    d = gen.RandomDraw(0)
    assert gen.client_hello()[:1] == b"\x16" and gen.client_hello()[5:6] == b"\x01"  # handshake, ClientHello
    assert all(isinstance(gen.http_request(d), bytes) for _ in range(100))
    assert any(gen.proxy_header(d).startswith(proxyproto.SIGNATURE) for _ in range(100))
    frames = gen.parse(gen.HELLO[len(gen.PREFACE) :] + gen.connect(1, "127.0.0.1:80") + gen.DONE)
    assert [type(f).__name__ for f in frames] == [
        "SettingsFrame",
        "SettingsFrame",
        "HeadersFrame",
        "PingFrame",
    ]
    assert all(1 <= len(gen.h2_bad_frames(d)) <= 6 for _ in range(50))
