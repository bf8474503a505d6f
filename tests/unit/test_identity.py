"""The lab CA issues SPIFFE workload certificates that openssl and Python's ssl both accept."""

import datetime as dt
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading

import pytest

from meshlab.identity import LabCA, client_context, peer_spiffe_id, principal, server_context, spiffe_id


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return LabCA.create(tmp_path_factory.mktemp("ca"))


def test_spiffe_ids_and_principals():
    assert spiffe_id("default", "bookinfo-reviews") == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    assert principal(spiffe_id("foo", "sleep")) == "cluster.local/ns/foo/sa/sleep"


def test_workload_cert_carries_only_the_spiffe_uri_and_lives_24h_by_default(ca):
    from cryptography import x509

    wc = ca.issue("default", "bookinfo-reviews")
    cert = x509.load_pem_x509_certificates(open(wc.cert_path, "rb").read())[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    ]
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(hours=24) <= life <= dt.timedelta(hours=24, minutes=2)


def test_lifetime_is_configurable_and_must_be_positive(ca):
    from cryptography import x509

    wc = ca.issue("default", "short", ttl=dt.timedelta(minutes=10))
    cert = x509.load_pem_x509_certificates(open(wc.cert_path, "rb").read())[0]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(minutes=12)
    with pytest.raises(ValueError, match="must be positive"):
        ca.issue("default", "never", ttl=dt.timedelta(0))


def test_private_keys_are_never_world_readable(ca):
    wc = ca.issue("default", "keys")
    assert stat.S_IMODE(os.stat(wc.key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ca.dir).st_mode) == 0o700


def test_the_ca_key_never_reaches_the_disk(ca):
    """Issue 13: the CA's key is the lab controller's alone (istiod's); no proxy can read it from
    the lab's directory, whatever its user or capabilities. Only certificates and workload keys
    are there."""
    from cryptography.hazmat.primitives import serialization

    ca.issue("default", "keys")
    der = ca._key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for root, _, files in os.walk(ca.dir):
        for f in files:
            data = open(os.path.join(root, f), "rb").read()
            assert b"root-key" not in f.encode() and der not in data
            for wc_pem in data.split(b"-----END PRIVATE KEY-----")[:-1]:
                key = serialization.load_pem_private_key(wc_pem + b"-----END PRIVATE KEY-----\n", None)
                assert key.private_numbers() != ca._key.private_numbers()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_the_chain_and_shows_the_uri_san(ca):
    wc = ca.issue("default", "bookinfo-ratings")
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", wc.cert_path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "URI:spiffe://cluster.local/ns/default/sa/bookinfo-ratings" in out
    v = subprocess.run(
        ["openssl", "verify", "-CAfile", ca.root_path, wc.cert_path], capture_output=True, text=True
    )
    assert v.returncode == 0 and ": OK" in v.stdout


def test_mutual_tls_handshake_gives_each_side_the_others_spiffe_id(ca):
    srv, cli = ca.issue("default", "server-sa"), ca.issue("default", "client-sa")
    sctx = server_context(srv.cert_path, srv.key_path, ca.root_path)
    cctx = client_context(cli.cert_path, cli.key_path, ca.root_path)
    seen = {}
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen()

        def serve():
            conn, _ = ls.accept()
            with sctx.wrap_socket(conn, server_side=True) as tls:
                seen["server saw"] = peer_spiffe_id(tls)
                seen["version"] = tls.version()
                tls.sendall(b"ok")

        t = threading.Thread(target=serve)
        t.start()
        with cctx.wrap_socket(socket.create_connection(ls.getsockname())) as c:
            seen["client saw"] = peer_spiffe_id(c)
            assert c.recv(2) == b"ok"
        t.join(5)
    assert seen["server saw"] == "spiffe://cluster.local/ns/default/sa/client-sa"
    assert seen["client saw"] == "spiffe://cluster.local/ns/default/sa/server-sa"
    assert seen["version"] == "TLSv1.3"


def test_a_client_without_a_certificate_is_refused(ca):
    srv = ca.issue("default", "strict-server")
    sctx = server_context(srv.cert_path, srv.key_path, ca.root_path)
    anon = ssl.create_default_context(cafile=ca.root_path)
    anon.check_hostname = False
    errors = []
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen()

        def serve():
            conn, _ = ls.accept()
            try:
                with sctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError) as e:
                errors.append(e)

        t = threading.Thread(target=serve)
        t.start()
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with anon.wrap_socket(socket.create_connection(ls.getsockname())) as c:
                c.sendall(b"x")
                c.recv(1)
        t.join(5)
    assert errors, "the server accepted a client with no certificate"
