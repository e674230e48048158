"""The service: every operation as one transaction of domain work, with no Flask and no HTTP status.

- transactions.py: the runner (one transaction, retries, Idempotency-Keys, rendered answers stored)
- studies.py: create (or get the identical), read, list, delete
- asks.py: new trials, cheap or costly (fit slots, model-fit helper processes, SQLite study locks)
- trials.py: tell, heartbeat, report, enqueue and import, list, read, best, reap
- accounts.py: authenticate a key; teams, keys, quotas, audit
- lookup.py: what a request names, or the NotFound that says what is missing
- leases.py: when a lease ends, when a study is due a reap
- model_fits.py, study_locks.py: the costly-ask path's helper processes and SQLite's per-study locks
- runtime.py: what a worker builds once (settings, database, the per-worker caches)
"""
