"""Telemetry: spans -> paths (:mod:`.paths`), latency statistics (:mod:`.stats`), results
(:mod:`.results`)."""
