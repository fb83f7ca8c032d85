"""One client connection: handshake, requests served concurrently, streams, heartbeat.

A bad message gets an error reply naming it; a broken stream of bytes gets an
error reply and the connection is closed. Nothing a client sends can take the
daemon or any other client down with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from typing import TYPE_CHECKING, Any, Dict, Optional

from protocol.codec import FrameDecoder, encode
from protocol.errors import ErrorCode, FrameError, MessageError
from protocol.limits import PEER_SILENCE_LIMIT_S
from protocol.messages import Error, Hello, Message, Ok, Unsubscribe, Welcome
from protocol.version import PROTOCOL_VERSION, __version__
from runner.errors import RunnerError
from runner.server.handlers import HANDLERS, STREAMS
from runner.tasks import TaskSet

if TYPE_CHECKING:
    from runner.server.daemon import Runner

log = logging.getLogger(__name__)
_READ_SIZE = 256 * 1024
_WRITE_BUFFER_HIGH = 2 * 1024 * 1024


def peer_uid(writer: asyncio.StreamWriter) -> Optional[int]:
    sock: Optional[socket.socket] = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class Connection:
    def __init__(
        self, runner: Runner, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.runner = runner
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.greeted = False
        self._send_lock = asyncio.Lock()
        self._requests = TaskSet("request")
        self._streams: Dict[int, asyncio.Task[Any]] = {}
        # A few chunks may queue in user space so the socket never runs dry
        # between drains; beyond that, drain() makes a slow reader wait.
        writer.transport.set_write_buffer_limits(high=_WRITE_BUFFER_HIGH)

    async def send(self, message: Message) -> None:
        async with self._send_lock:
            self.writer.write(encode(message))
            await self.writer.drain()

    async def serve(self) -> None:
        try:
            uid = peer_uid(self.writer)
            if uid is not None and uid != os.getuid():
                await self.send(
                    Error(code=ErrorCode.FORBIDDEN, message="this runner serves its own user only")
                )
                return
            await self._read_loop()
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            await self.close()

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await asyncio.wait_for(self.reader.read(_READ_SIZE), PEER_SILENCE_LIMIT_S)
            except asyncio.TimeoutError:
                log.info("dropping a client silent for %.0f s", PEER_SILENCE_LIMIT_S)
                return
            if not data:
                return
            self.decoder.feed(data)
            while True:
                try:
                    message = self.decoder.next_message()
                except MessageError as exc:
                    await self.send(Error(id=exc.request_id, code=exc.code, message=str(exc)))
                    continue
                except FrameError as exc:
                    await self.send(Error(code=exc.code, message=f"{exc}; closing the connection"))
                    return
                if message is None:
                    break
                if not await self._dispatch(message):
                    return

    async def _dispatch(self, message: Message) -> bool:
        """Handle one message; False means the connection must close."""
        if isinstance(message, Hello):
            return await self._hello(message)
        request_id = getattr(message, "id", None)
        if not self.greeted:
            await self.send(
                Error(id=request_id, code=ErrorCode.NOT_READY, message="say hello first")
            )
            return True
        streamer = STREAMS.get(type(message))
        if streamer is not None:
            self._streams[request_id or 0] = self._requests.spawn(self._stream(streamer, message))
            return True
        if isinstance(message, Unsubscribe):
            task = self._streams.pop(message.stream_id, None)
            if task is not None:
                task.cancel()
            await self.send(Ok(id=message.id))
            return True
        handler = HANDLERS.get(type(message))
        if handler is None:
            await self.send(
                Error(
                    id=request_id,
                    code=ErrorCode.BAD_REQUEST,
                    message=f"{message.type} is not a request",
                )
            )
            return True
        self._requests.spawn(self._answer(handler, message))
        return True

    async def _hello(self, hello: Hello) -> bool:
        if hello.protocol != PROTOCOL_VERSION:
            await self.send(
                Error(
                    code=ErrorCode.INCOMPATIBLE,
                    message=(
                        f"client tether {hello.client_version} speaks protocol {hello.protocol}, "
                        f"this runner (tether {__version__}) speaks protocol {PROTOCOL_VERSION}: "
                        + (
                            "upgrade tether on this machine"
                            if hello.protocol < PROTOCOL_VERSION
                            else "connect again and tether upgrades the runner"
                        )
                    ),
                )
            )
            return False
        self.greeted = True
        await self.send(
            Welcome(
                protocol=PROTOCOL_VERSION,
                runner_version=__version__,
                pid=os.getpid(),
                hostname=socket.gethostname(),
            )
        )
        return True

    async def _answer(self, handler: Any, message: Message) -> None:
        request_id = getattr(message, "id", None)
        try:
            reply = await handler(self.runner, message)
        except RunnerError as exc:
            reply = Error(id=request_id, code=exc.code, message=str(exc))
        except Exception as exc:
            log.exception("request %s failed", message.type)
            reply = Error(id=request_id, code=ErrorCode.INTERNAL, message=f"runner error: {exc!r}")
        await self.send(reply)

    async def _stream(self, streamer: Any, request: Message) -> None:
        request_id = getattr(request, "id", None)
        try:
            await streamer(self.runner, request, self.send)
        except RunnerError as exc:
            await self.send(Error(id=request_id, code=exc.code, message=str(exc)))
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("stream %s failed", request.type)
            await self.send(
                Error(id=request_id, code=ErrorCode.INTERNAL, message=f"runner error: {exc!r}")
            )
        finally:
            self._streams.pop(request_id or 0, None)

    async def close(self) -> None:
        await self._requests.close()
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, BrokenPipeError):
            pass
