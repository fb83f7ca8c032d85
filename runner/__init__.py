"""The daemon on the GPU host: one per user, reached only through its unix socket.

Imports only `protocol/` and libraries a bare host can carry (msgpack, pydantic,
psutil, nvidia-ml-py), and runs on Python 3.9. This file imports nothing so that
the per-job shim starts in milliseconds.
"""
