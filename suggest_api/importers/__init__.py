"""Importers from other tools: each reads a study where that tool keeps it and writes the export document
(the format `suggest-api export` writes), which `service.transfer.import_study` then imports, so every way
in is checked, bounded and idempotent in one place.

- `optuna_study`: an Optuna RDB study (SQLite or PostgreSQL storage); `suggest-api import-optuna`.
"""
