"""Jobs: the store, the per-job shim and its files, and the job table.

Kept empty: the shim (`runner.jobs.shim`) imports this package and must stay
light (no pydantic, no msgpack).
"""
