"""The lab's traffic: one request, or a load of many, sent from an app pod and returned with its
status, latency and path (reassembled from the spans the lab collects right after).

:class:`Traffic` is a part of :class:`~meshlab.lab.Lab` (it holds no state of its own): it sends
through the lab's pod processes (``workers``), takes the entry source and URL from ``topology``,
reads spans and usage through the lab's measuring part (:mod:`.measure`) and hands every load to
its recording part (:mod:`.recording`).
"""

from __future__ import annotations

import time

from ..backends.process import WorkerProcess
from ..errors import LabError
from ..telemetry import cost
from ..telemetry.paths import path_of
from ..telemetry.results import LoadResult, RequestResult


class Traffic:
    """``request`` and ``load`` from a pod of the lab."""

    def _worker_for(self, source: str | None) -> tuple[str, WorkerProcess]:
        self._require_running()
        source = source or (self.topology.entry.source if self.topology.entry else None)
        if source is None:
            raise LabError("say which workload sends the traffic (the topology has no entry)")
        try:
            pod = self.topology.pod(source)
        except KeyError as e:
            raise LabError(str(e.args[0])) from None
        if pod.name not in self.workers:
            raise LabError(
                f"{pod.name} is a {self.mesh.get(pod.name) or 'proxy'} pod, not an app: send from an app pod"
            )
        return pod.name, self.workers[pod.name]

    def _url(self, url: str | None) -> str:
        url = url or (self.topology.entry.url if self.topology.entry else None)
        if not url or not url.startswith("http://"):
            raise LabError(f"expected an http:// URL; got {url!r}")
        return url

    @staticmethod
    def _headers(headers) -> list[list[str]]:
        if headers is None:
            return []
        items = headers.items() if hasattr(headers, "items") else headers
        out = []
        for k, v in items:
            if not isinstance(k, str) or not isinstance(v, str):
                raise LabError(f"headers must map strings to strings; got {k!r}: {v!r}")
            out.append([k, v])
        return out

    def request(
        self,
        source: str | None = None,
        url: str | None = None,
        *,
        method: str = "GET",
        headers=None,
        body: str = "",
        timeout: float = 30.0,
    ) -> RequestResult:
        """Send one request from a pod (a workload name picks its first pod) and return its
        status, latency and path."""
        name, w = self._worker_for(source)
        url = self._url(url)
        r = w.call(
            "request",
            dict(method=method, url=url, headers=self._headers(headers), body=body, timeout=timeout),
            timeout=timeout + 10,
        )
        self.collect()
        tid = r.get("trace_id")
        path = path_of(tid, self.spans(tid, collect=False), self._l4()) if tid else None
        return RequestResult(
            source=name,
            url=url,
            status=r["status"],
            error=r["error"],
            latency_ms=(r["end"] - r["start"]) * 1000,
            path=path,
            body=r.get("body", ""),
            headers=tuple(tuple(h) for h in r.get("headers", [])),
            trace_id=tid,
            partial=tuple(r.get("partial", ())),
        )

    def load(
        self,
        source: str | None = None,
        url: str | None = None,
        *,
        requests: int | None = None,
        duration: float | None = None,
        rate: float | None = None,
        concurrency: int = 1,
        method: str = "GET",
        headers=None,
        body: str = "",
        timeout: float = 30.0,
        progress: bool | None = None,
    ) -> LoadResult:
        """Send many requests from one pod: ``requests`` of them, or for ``duration`` seconds, at
        ``rate`` per second (None: as fast as possible), over ``concurrency`` connections. Shows a
        progress bar on long runs (``progress=None``: when more than 50 requests or a duration)."""
        from ..apps.loadgen import LoadPlan

        name, w = self._worker_for(source)
        url = self._url(url)
        try:
            plan = LoadPlan(requests=requests, duration=duration, rate=rate, concurrency=concurrency)
        except ValueError as e:
            raise LabError(str(e)) from None
        if progress is None:
            progress = duration is not None or (requests or 0) > 50
        bar = None
        if progress:
            from tqdm.auto import tqdm

            in_notebook = tqdm.__module__.startswith("tqdm.notebook")
            # a notebook keeps the finished bar, labelled with the mode it measured; a terminal clears it
            bar = tqdm(
                total=plan.expected(),
                desc=f"{self.data_plane}: {name} -> {url}",
                unit="req",
                leave=in_notebook,
            )
        last = [0]

        def on_progress(n: int):
            if bar is not None:
                bar.update(n - last[0])
                last[0] = n

        limit = (duration or 0) + (requests or 0) * timeout / concurrency + 30
        before = self.usage()
        t0 = time.monotonic()
        try:
            r = w.call(
                "load",
                dict(
                    plan=plan.__dict__,
                    method=method,
                    url=url,
                    headers=self._headers(headers),
                    body=body,
                    timeout=timeout,
                ),
                timeout=min(limit, 3600),
                on_progress=on_progress,
            )
            if bar is not None:  # progress comes in steps: the last one may not have arrived
                done = len(r["outcomes"])
                bar.total = max(bar.total or 0, done) if duration is None else done
                bar.update(done - last[0])
        finally:
            if bar is not None:
                bar.close()  # (short of its total only when the load failed: drawn red then)
        wall = time.monotonic() - t0
        after = self.usage()
        cpu = cost.cpu_delta(before, after)
        self.collect()
        outcomes = r["outcomes"]
        l4 = self._l4()
        paths = {}
        for o in outcomes:
            tid = o.get("trace_id")
            if tid and tid in self._spans:
                p = path_of(tid, self.spans(tid, collect=False), l4)
                if p is not None:
                    paths[tid] = p
        res = LoadResult(
            source=name,
            url=url,
            outcomes=outcomes,
            paths=paths,
            wall_s=wall,
            cpu_s=cpu,
            settings={
                "requests": requests,
                "duration": duration,
                "rate": rate,
                "concurrency": concurrency,
                "method": method,
                "mode": self.mode,
                "backend": self.backend.name,
                "topology": self.topology.name,
            },
            usage=[{k: v for k, v in u.to_dict().items() if k != "pid"} for u in after.values()],
        )
        self._loads.append(self._run_record(res))
        return res
