"""The one package both sides import: messages, limits, errors and a sans-IO codec.

Nothing here touches a socket or an event loop, so every framing rule is a plain
unit test, and the runner (Python 3.9+) and the client share exactly one truth.
Import the submodules directly (`protocol.codec`, `protocol.messages`...): this
file stays empty so that light importers (the job shim) pay for nothing.
"""
