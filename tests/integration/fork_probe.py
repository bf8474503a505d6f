"""A module for the zygote to fork in tests (tests/integration/test_zygote.py): reads a spec on
stdin, reports on stdout what a pod process would find — its cluster network, a subprocess run
under uvloop, its open file descriptors."""

import json
import os
import sys


def main() -> None:
    import asyncio

    import uvloop

    from meshlab.net.cluster import ClusterNet

    spec = json.loads(sys.stdin.readline())
    net = ClusterNet.from_dict(spec["net"])

    async def run() -> str:
        p = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "print('from a subprocess')", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await p.communicate()
        return out.decode().strip()

    said = uvloop.run(run())
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass
    sys.stdout.write(json.dumps({"pods": [p.name for p in net.pods], "subprocess": said, "fds": fds}) + "\n")
    sys.stdout.flush()
