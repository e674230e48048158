"""The client's version, in a module of its own so `transport.py` (the User-Agent) and the build can read it
without importing the package."""

from __future__ import annotations

__version__ = "0.1.0"
