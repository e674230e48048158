"""Persistence: tables, engine and sessions, the statements of each concept, Alembic migrations.

Rows become domain values here (rows.py) and nowhere else: no layer above storage sees a row.
"""
