"""Sans-IO framing: bytes in, messages out; messages in, bytes out.

A frame is a 4-byte big-endian length followed by one msgpack map. The length is
checked against `MAX_FRAME_BYTES` before any payload is buffered, and msgpack is
told the same limits, so a ten-byte frame can never ask for gigabytes.

Once the handshake agreed on a codec (`protocol.compression`), a frame may be
compressed: the top bit of its length says so, and the payload inflates, with
the frame limit as its bound, to the msgpack map. Plain frames stay valid
throughout; a compressed frame on a connection that agreed on none is broken.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, Iterator, List, Optional, Type, cast, get_args

import msgpack
from pydantic import ValidationError

from protocol.compression import CorruptFrame, WireCounters, compress, decompress
from protocol.envelope import WireModel
from protocol.errors import ErrorCode, FrameError, MessageError
from protocol.limits import FRAME_HEADER_BYTES, MAX_DECOMPRESSED_FRAME_BYTES, MAX_FRAME_BYTES
from protocol.messages import Message

_HEADER = struct.Struct(">I")
#: The length's top bit: this frame's payload is compressed.
COMPRESSED_FLAG = 0x8000_0000


def _models_by_type() -> Dict[str, Type[WireModel]]:
    union, _discriminator = get_args(Message)
    return {model.model_fields["type"].default: model for model in get_args(union)}


#: Each message's model by its ``type`` tag. A frame is validated by the one
#: model its tag names, so a process builds the validators of the messages it
#: meets (models are built on first use: `WireModel`), not a union of them all.
_MODELS = _models_by_type()


def _payload(message: WireModel) -> bytes:
    payload: bytes = msgpack.packb(message.model_dump(mode="python"), use_bin_type=True)
    if len(payload) > MAX_FRAME_BYTES:
        raise FrameError(
            f"refusing to send a {len(payload)}-byte frame (limit {MAX_FRAME_BYTES})",
            ErrorCode.FRAME_TOO_LARGE,
        )
    return payload


def encode(message: WireModel) -> bytes:
    """One plain framed message. Raises `FrameError` if it would break the frame
    cap, which is a bug on the sending side, never something to put on the wire."""
    payload = _payload(message)
    return _HEADER.pack(len(payload)) + payload


class FrameEncoder:
    """One side's sending half: plain frames until `codec` is set (by the
    handshake), then each frame compressed where that pays. Counts the bytes."""

    def __init__(self) -> None:
        self.codec: Optional[str] = None
        self.counters = WireCounters()

    def encode(self, message: WireModel) -> bytes:
        payload = _payload(message)
        packed = compress(payload, self.codec) if self.codec is not None else None
        if packed is None:
            self.counters.count(len(payload), len(payload), False)
            return _HEADER.pack(len(payload)) + payload
        self.counters.count(len(payload), len(packed), True)
        return _HEADER.pack(len(packed) | COMPRESSED_FLAG) + packed


def _unpack(payload: bytes) -> Any:
    try:
        return msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_FRAME_BYTES,
            max_bin_len=MAX_FRAME_BYTES,
            max_array_len=len(payload),
            max_map_len=len(payload),
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises a zoo of types for garbage
        raise FrameError(f"frame is not valid msgpack: {exc}", ErrorCode.BAD_FRAME) from exc


def decode_payload(payload: bytes) -> Message:
    """Validate one frame's payload. Raises `FrameError` for undecodable bytes,
    `MessageError` (carrying the request id when readable) for a bad message."""
    obj = _unpack(payload)
    if not isinstance(obj, dict):
        raise FrameError("frame is not a msgpack map", ErrorCode.BAD_FRAME)
    raw_id = obj.get("id")
    request_id = raw_id if isinstance(raw_id, int) and raw_id >= 0 else None
    tag = obj.get("type")
    model = _MODELS.get(tag) if isinstance(tag, str) else None
    if model is None:
        raise MessageError(f"unknown message type {tag!r}", ErrorCode.UNKNOWN_TYPE, request_id)
    try:
        return cast(Message, model.model_validate(obj))
    except ValidationError as exc:
        raise MessageError(
            f"invalid {tag} message: {_describe(exc.errors())}",
            ErrorCode.INVALID_MESSAGE,
            request_id,
        ) from exc


def _describe(errors: List[Any]) -> str:
    parts = []
    for e in errors[:3]:
        where = ".".join(str(p) for p in e["loc"]) or "message"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


class FrameDecoder:
    """Feed it bytes as they arrive; iterate it for the messages they complete.

    Iteration raises `MessageError` for one bad message (the decoder stays usable)
    and `FrameError` for a broken stream (the decoder is then dead: every later
    iteration raises the same error, so a caller cannot accidentally resync).
    """

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._pos = 0  # bytes of `_buffer` already consumed
        self._max_frame = max_frame
        self._expected: Optional[int] = None
        self._compressed = False  # the frame being read
        self._dead: Optional[FrameError] = None
        #: The codec agreed in the handshake; None: a compressed frame is broken.
        self.codec: Optional[str] = None
        self.counters = WireCounters()

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet make a whole frame."""
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> None:
        if self._dead is not None:
            return
        if self._pos and self._pos == len(self._buffer):
            self._buffer.clear()
            self._pos = 0
        elif self._pos > len(self._buffer) // 2:
            del self._buffer[: self._pos]  # compact rarely, not once per frame
            self._pos = 0
        self._buffer += data

    def __iter__(self) -> Iterator[Message]:
        while True:
            message = self.next_message()
            if message is None:
                return
            yield message

    def _die(self, error: FrameError) -> FrameError:
        self._dead = error
        self._buffer.clear()
        self._pos = 0
        return error

    def next_message(self) -> Optional[Message]:
        """The next complete message, or None when more bytes are needed."""
        if self._dead is not None:
            raise self._dead
        if self._expected is None:
            if self.buffered < FRAME_HEADER_BYTES:
                return None
            (length,) = _HEADER.unpack_from(self._buffer, self._pos)
            self._compressed = bool(length & COMPRESSED_FLAG)
            length &= ~COMPRESSED_FLAG
            if self._compressed and self.codec is None:
                raise self._die(
                    FrameError(
                        f"frame {self.counters.frames + 1} is compressed, "
                        "but no compression was agreed",
                        ErrorCode.BAD_FRAME,
                    )
                )
            if length > self._max_frame:
                raise self._die(
                    FrameError(
                        f"frame of {length} bytes is over the {self._max_frame}-byte limit",
                        ErrorCode.FRAME_TOO_LARGE,
                    )
                )
            self._pos += FRAME_HEADER_BYTES
            self._expected = length
        if self.buffered < self._expected:
            return None
        end = self._pos + self._expected
        with memoryview(self._buffer) as view:
            payload = bytes(view[self._pos : end])  # the one copy a frame costs
        self._pos = end
        self._expected = None
        wire = len(payload)
        if self._compressed:
            payload = self._inflate(payload)
        self.counters.count(len(payload), wire, self._compressed)
        try:
            return decode_payload(payload)
        except FrameError as exc:
            raise self._die(exc) from None

    def _inflate(self, data: bytes) -> bytes:
        assert self.codec is not None
        try:
            return decompress(data, self.codec, min(self._max_frame, MAX_DECOMPRESSED_FRAME_BYTES))
        except CorruptFrame as exc:
            frame = self.counters.frames + 1
            raise self._die(
                FrameError(
                    f"compressed frame {frame} ({len(data)} bytes, {self.codec}) {exc}",
                    ErrorCode.BAD_FRAME,
                )
            ) from None
