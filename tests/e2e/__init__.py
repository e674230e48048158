"""End-to-end tests: real `suggest-api` processes (gunicorn) on loopback ports, real databases."""
