"""Benchmarks: figures, and ratios against a baseline measured in the same run. Never pass/fail.

- :mod:`.startup` — ``meshlab bench startup``: time to up-and-serving and memory (PSS), against
  bare interpreters started the same way.
- :mod:`.hops` — ``meshlab bench hops``: added latency and throughput per proxy role, in rounds;
  :mod:`.rows` measures one row, and the nginx and stunnel references; :mod:`.relay` is the floor
  row's plain Python TCP relay.
"""
