"""meshlab's version, in a module of its own so that any layer may read it (``pyproject.toml`` says
the same). ``meshlab.__version__`` is this."""

__version__ = "0.1.0"
