"""Integration tests start real processes and sockets. Labs are shared per module where the
tests only read from them, to keep the suite fast."""

import pytest

from meshlab import Lab

BACKENDS = ["loopback"]     # mininet joins when its backend exists (issue 5)


@pytest.fixture(scope="module", params=BACKENDS)
def bookinfo(request):
    with Lab("bookinfo", backend=request.param, verbose=False) as lab:
        yield lab


@pytest.fixture(scope="module", params=BACKENDS)
def httpbin(request):
    with Lab("httpbin", backend=request.param, verbose=False) as lab:
        yield lab
