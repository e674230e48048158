"""Serving HTTP: gunicorn and its worker that buffers whole requests before a thread sees them."""
