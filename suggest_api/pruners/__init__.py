"""Pruners: decide from intermediate reports whether a running trial should stop early."""
