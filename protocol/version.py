"""Versions stated in the handshake.

`__version__` is the release both halves ship with; `PROTOCOL_VERSION` changes only
when the wire changes incompatibly, so a client can tell "upgrade me" from "upgrade
the runner" by comparing the two.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
