"""Istio's policy API, as the lab reads, checks and evaluates it (pure: no I/O)."""
