"""Reliability scenarios: real servers, real PostgreSQL, client processes, faults injected under load."""
