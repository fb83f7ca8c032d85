"""Compression on the wire: the per-frame codec and its handshake, as plain calls."""

from __future__ import annotations

import os
import struct
import zlib
from typing import List

import pytest

from protocol.codec import COMPRESSED_FLAG, FrameDecoder, FrameEncoder, encode
from protocol.compression import ZLIB, CorruptFrame, choose, compress, decompress
from protocol.connection.client import ClientConnection
from protocol.connection.events import Failed, Welcomed
from protocol.connection.server import ServerConnection
from protocol.errors import ErrorCode, FrameError
from protocol.exchanges import FOLLOW_LOG
from protocol.limits import MAX_FRAME_BYTES, MIN_COMPRESS_BYTES
from protocol.messages import Error, FollowLog, Hello, LogChunk, Message, Welcome
from protocol.version import PROTOCOL_VERSION

WELCOME = Welcome(protocol=PROTOCOL_VERSION, runner_version="9.9", pid=1, hostname="gpu1")
TEXT = b"".join(
    b"step %6d loss %.4f lr 3.0e-4 |%s%s| %d/%d\n"
    % (i, 1 / (i + 1), b"#" * (i % 40), b"." * (40 - i % 40), i, 10**6)
    for i in range(3000)
)
RANDOM = os.urandom(200 * 1024)


def chunk(data: bytes, offset: int = 0) -> LogChunk:
    return LogChunk(id=5, job_id=3, data=data, offset=offset, size=offset + len(data))


def frames_of(data: bytes) -> List[int]:
    """Each frame's raw length word."""
    words = []
    pos = 0
    while pos < len(data):
        (word,) = struct.unpack_from(">I", data, pos)
        words.append(word)
        pos += 4 + (word & ~COMPRESSED_FLAG)
    return words


def compressing_pair() -> tuple[FrameEncoder, FrameDecoder]:
    encoder, decoder = FrameEncoder(), FrameDecoder()
    encoder.codec = decoder.codec = ZLIB
    return encoder, decoder


# -- the codec -------------------------------------------------------------------


def test_a_log_chunk_shrinks_and_comes_back_byte_exact() -> None:
    encoder, decoder = compressing_pair()
    message = chunk(TEXT[:200_000], offset=123_456)
    data = encoder.encode(message)
    (word,) = frames_of(data)
    assert word & COMPRESSED_FLAG
    assert len(data) < len(encode(message)) / 4
    decoder.feed(data)
    assert list(decoder) == [message]
    assert encoder.counters.compressed_frames == decoder.counters.compressed_frames == 1
    assert encoder.counters.raw == decoder.counters.raw
    assert encoder.counters.wire == decoder.counters.wire == len(data) - 4
    assert decoder.counters.ratio > 4


def test_random_bytes_and_small_frames_are_sent_plain() -> None:
    encoder, decoder = compressing_pair()
    messages: List[Message] = [chunk(RANDOM), chunk(RANDOM[:1000]), chunk(b"x" * 10)]
    data = b"".join(encoder.encode(m) for m in messages)
    assert data == b"".join(encode(m) for m in messages)  # byte for byte plain
    assert all(not word & COMPRESSED_FLAG for word in frames_of(data))
    decoder.feed(data)
    assert list(decoder) == messages
    assert encoder.counters.compressed_frames == 0


def test_a_big_frame_of_random_bytes_is_judged_by_a_sample() -> None:
    assert compress(RANDOM, ZLIB) is None
    assert compress(b"a" * (MIN_COMPRESS_BYTES - 1), ZLIB) is None
    packed = compress(TEXT, ZLIB)
    assert packed is not None and zlib.decompress(packed) == TEXT


def test_plain_and_compressed_frames_mix_in_one_stream_fed_byte_by_byte() -> None:
    encoder, decoder = compressing_pair()
    messages: List[Message] = [chunk(TEXT[i * 9000 : (i + 1) * 9000], i * 9000) for i in range(3)]
    messages.insert(1, chunk(RANDOM[:5000]))
    data = b"".join(encoder.encode(m) for m in messages)
    assert [bool(w & COMPRESSED_FLAG) for w in frames_of(data)] == [True, False, True, True]
    out: List[Message] = []
    for i in range(0, len(data), 7):
        decoder.feed(data[i : i + 7])
        out.extend(decoder)
    assert out == messages


def test_a_corrupt_compressed_frame_is_a_frame_error_never_wrong_bytes() -> None:
    encoder, decoder = compressing_pair()
    good = encoder.encode(chunk(TEXT[:50_000]))
    bad = bytearray(encoder.encode(chunk(TEXT[50_000:100_000])))
    bad[len(bad) // 2] ^= 0xFF
    decoder.feed(good + bytes(bad))
    assert next(decoder.__iter__()) == chunk(TEXT[:50_000])
    with pytest.raises(FrameError) as err:
        decoder.next_message()
    assert err.value.code is ErrorCode.BAD_FRAME
    assert "compressed frame 2" in str(err.value)
    with pytest.raises(FrameError):  # dead: no resync onto later bytes
        decoder.next_message()


def test_a_truncated_or_padded_stream_inside_a_frame_is_refused() -> None:
    packed = zlib.compress(b"x" * 5000)
    with pytest.raises(CorruptFrame, match="truncated"):
        decompress(packed[:-6], ZLIB, MAX_FRAME_BYTES)
    with pytest.raises(CorruptFrame, match="after its end"):
        decompress(packed + b"junk", ZLIB, MAX_FRAME_BYTES)


def test_a_zip_bomb_stops_at_the_frame_limit() -> None:
    bomb = zlib.compress(b"\0" * (64 * MAX_FRAME_BYTES), 9)  # 64 MiB in ~64 KiB
    assert len(bomb) < MAX_FRAME_BYTES
    with pytest.raises(CorruptFrame, match="limit"):
        decompress(bomb, ZLIB, MAX_FRAME_BYTES)
    decoder = FrameDecoder()
    decoder.codec = ZLIB
    decoder.feed(struct.pack(">I", len(bomb) | COMPRESSED_FLAG) + bomb)
    with pytest.raises(FrameError, match="limit"):
        decoder.next_message()


def test_a_compressed_frame_without_agreement_is_refused() -> None:
    encoder, _ = compressing_pair()
    decoder = FrameDecoder()  # agreed on nothing
    decoder.feed(encoder.encode(chunk(TEXT[:50_000])))
    with pytest.raises(FrameError, match="no compression was agreed"):
        decoder.next_message()


def test_the_runner_picks_the_first_codec_it_knows() -> None:
    assert choose(["zstd-9", "zlib"]) == "zlib"
    assert choose(["lz4"]) is None
    assert choose(None) is None and choose([]) is None


# -- the handshake ---------------------------------------------------------------


def _events(conn: ClientConnection) -> list:  # type: ignore[type-arg]
    out = []
    while (event := conn.next_event()) is not None:
        out.append(event)
    return out


def _follow_over(client: ClientConnection, server: ServerConnection) -> bytes:
    """One big log chunk answered through both halves; the runner's bytes."""
    _events(client)
    stream_id, data = client.request(FOLLOW_LOG, lambda i: FollowLog(id=i, job_id=3, offset=0))
    server.receive_data(data, 1.0)
    server.next_event()
    out = server.send(LogChunk(id=stream_id, job_id=3, data=TEXT[:100_000], offset=0, size=100_000))
    client.receive_data(out, 1.0)
    (event,) = _events(client)
    assert event.message == LogChunk(
        id=stream_id, job_id=3, data=TEXT[:100_000], offset=0, size=100_000
    )
    return out


def test_both_sides_that_offer_zlib_compress_after_the_welcome() -> None:
    client = ClientConnection("1.0", 0.0)
    server = ServerConnection(WELCOME, 0.0)
    hello = client.hello()
    server.receive_data(hello, 0.0)
    welcome = server.data_to_send()
    assert not frames_of(welcome)[0] & COMPRESSED_FLAG  # the welcome itself is plain
    client.receive_data(welcome, 0.0)
    assert client.compression == "zlib"
    out = _follow_over(client, server)
    assert frames_of(out)[0] & COMPRESSED_FLAG
    stats = client.wire_stats()
    assert stats["compression"] == "zlib" and stats["received"]["compressed_frames"] == 1
    assert stats["received"]["bytes"] > 4 * stats["received"]["wire_bytes"] / 2
    assert server.wire_stats()["sent"]["wire_bytes"] == stats["received"]["wire_bytes"]


def test_a_runner_that_offers_nothing_gets_plain_frames_both_ways() -> None:
    # An older runner does not know the field: it ignores it and its welcome has none.
    client = ClientConnection("1.0", 0.0)
    client.hello()
    client.receive_data(encode(WELCOME), 0.0)
    assert _events(client) == [Welcomed(WELCOME)]
    assert client.compression is None
    _, data = client.request(FOLLOW_LOG, lambda i: FollowLog(id=i, job_id=3, offset=0))
    assert not frames_of(data)[0] & COMPRESSED_FLAG
    # ...and a runner of this release built without codecs answers the same.
    client = ClientConnection("1.0", 0.0)
    server = ServerConnection(WELCOME, 0.0, compression=())
    server.receive_data(client.hello(), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    assert client.compression is None
    out = _follow_over(client, server)
    assert not frames_of(out)[0] & COMPRESSED_FLAG and len(out) > 100_000


def test_a_client_that_offers_nothing_gets_plain_frames() -> None:
    server = ServerConnection(WELCOME, 0.0)
    server.receive_data(encode(Hello(protocol=PROTOCOL_VERSION, client_version="0.1")), 0.0)
    decoder = FrameDecoder()
    decoder.feed(server.data_to_send())
    (welcome,) = list(decoder)
    assert isinstance(welcome, Welcome) and welcome.compression is None
    client = ClientConnection("1.0", 0.0, compression=())
    server = ServerConnection(WELCOME, 0.0)
    server.receive_data(client.hello(), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    out = _follow_over(client, server)
    assert not frames_of(out)[0] & COMPRESSED_FLAG


def test_a_runner_choosing_a_codec_not_offered_ends_the_connection() -> None:
    client = ClientConnection("1.0", 0.0, compression=())
    client.hello()
    client.receive_data(encode(WELCOME.model_copy(update={"compression": "zlib"})), 0.0)
    (event,) = _events(client)
    assert isinstance(event, Failed) and "not offered" in event.reason


def test_a_corrupt_compressed_frame_from_the_runner_fails_the_connection() -> None:
    client = ClientConnection("1.0", 0.0)
    server = ServerConnection(WELCOME, 0.0)
    server.receive_data(client.hello(), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    _events(client)
    stream_id, data = client.request(FOLLOW_LOG, lambda i: FollowLog(id=i, job_id=3, offset=0))
    server.receive_data(data, 1.0)
    out = bytearray(
        server.send(LogChunk(id=stream_id, job_id=3, data=TEXT[:100_000], offset=0, size=100_000))
    )
    out[100] ^= 0x55
    client.receive_data(bytes(out), 1.0)
    (event,) = _events(client)
    assert isinstance(event, Failed)
    assert "bad frame" in event.reason and "compressed frame" in event.reason


def test_a_corrupt_compressed_frame_from_a_client_is_answered_and_closed() -> None:
    client = ClientConnection("1.0", 0.0)
    server = ServerConnection(WELCOME, 0.0)
    server.receive_data(client.hello(), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    encoder = FrameEncoder()
    encoder.codec = ZLIB
    bad = bytearray(encoder.encode(chunk(TEXT[:50_000])))
    bad[-10] ^= 0x55
    server.receive_data(bytes(bad), 1.0)
    decoder = FrameDecoder()
    decoder.codec = ZLIB
    decoder.feed(server.data_to_send())
    (error,) = list(decoder)
    assert isinstance(error, Error) and error.code is ErrorCode.BAD_FRAME
    assert "compressed frame" in error.message
    assert server.closed is not None
