"""What a stream handler is given to send with: one definition for every stream."""

from __future__ import annotations

from typing import Awaitable, Callable

from protocol.envelope import Reply

#: Sends one message of a stream and waits while the client is slow to read it.
Send = Callable[[Reply], Awaitable[None]]
