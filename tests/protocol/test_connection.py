"""The connection's rules, both halves, as plain calls: no socket, no clock."""

from __future__ import annotations

from typing import List, Optional

import msgpack
import pytest

from protocol.codec import FrameDecoder, encode
from protocol.connection.client import ClientConnection
from protocol.connection.events import (
    Answered,
    ClientEvent,
    Closed,
    Failed,
    Heartbeat,
    Refused,
    RequestReceived,
    ServerEvent,
    StreamCancelled,
    Streamed,
    Welcomed,
)
from protocol.connection.server import ServerConnection
from protocol.errors import ErrorCode, LocalProtocolError
from protocol.exchanges import FOLLOW_LOG, GET_JOB, LIST_JOBS, PING, WATCH_JOBS
from protocol.job_table import JobTableUpdate
from protocol.jobs import JobInfo, JobState
from protocol.limits import MAX_FRAME_BYTES
from protocol.messages import (
    Error,
    FollowLog,
    GetJob,
    Hello,
    JobList,
    JobReply,
    ListJobs,
    LogChunk,
    LogEnd,
    Message,
    Ok,
    Ping,
    Pong,
    Unsubscribe,
    WatchJobs,
    Welcome,
)
from protocol.version import PROTOCOL_VERSION

WELCOME = Welcome(protocol=PROTOCOL_VERSION, runner_version="9.9", pid=1, hostname="gpu1")
JOB = JobInfo(id=3, name="t", state=JobState.RUNNING, argv=["x"], cwd="/", created_at=1.0)
FAST = Heartbeat(interval_s=1.0, timeout_s=3.0)


def decode_all(data: bytes) -> List[Message]:
    decoder = FrameDecoder()
    decoder.feed(data)
    return list(decoder)


def client_events(conn: ClientConnection) -> List[ClientEvent]:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def server_events(conn: ServerConnection) -> List[ServerEvent]:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def greeted_client(now: float = 0.0, heartbeat: Heartbeat = FAST) -> ClientConnection:
    client = ClientConnection("1.0", now, heartbeat)
    client.hello()
    client.receive_data(encode(WELCOME), now)
    assert client_events(client) == [Welcomed(WELCOME)]
    return client


def greeted_server(now: float = 0.0, silence: float = 30.0) -> ServerConnection:
    server = ServerConnection(WELCOME, now, silence)
    server.receive_data(encode(Hello(protocol=PROTOCOL_VERSION, client_version="1.0")), now)
    assert decode_all(server.data_to_send()) == [WELCOME]
    return server


# -- the client half -------------------------------------------------------------


def test_client_says_hello_first_and_refuses_to_request_before() -> None:
    client = ClientConnection("1.0", 0.0)
    with pytest.raises(LocalProtocolError, match="hello"):
        client.request(GET_JOB, lambda i: GetJob(id=i, job_id=1))
    (hello,) = decode_all(client.hello())
    assert hello == Hello(protocol=PROTOCOL_VERSION, client_version="1.0", compression=["zlib"])


def test_a_refused_handshake_is_reported_then_the_connection_fails() -> None:
    client = ClientConnection("1.0", 0.0)
    client.hello()
    refusal = Error(code=ErrorCode.INCOMPATIBLE, message="speaks protocol 7")
    client.receive_data(encode(refusal), 0.0)
    assert client_events(client) == [Refused(refusal), Failed("speaks protocol 7")]
    assert client.failure == "speaks protocol 7"


def test_a_reply_reaches_its_request_by_id() -> None:
    client = greeted_client()
    first, _ = client.request(GET_JOB, lambda i: GetJob(id=i, job_id=3))
    second, _ = client.request(LIST_JOBS, lambda i: ListJobs(id=i))
    client.receive_data(
        encode(JobList(id=second, jobs=[])) + encode(JobReply(id=first, job=JOB)), 1
    )
    assert client_events(client) == [
        Answered(second, JobList(id=second, jobs=[])),
        Answered(first, JobReply(id=first, job=JOB)),
    ]
    assert client.open_requests == 0


def test_a_reply_of_the_wrong_type_fails_the_connection() -> None:
    client = greeted_client()
    request_id, _ = client.request(GET_JOB, lambda i: GetJob(id=i, job_id=3))
    client.receive_data(encode(JobList(id=request_id, jobs=[])), 1)
    (event,) = client_events(client)
    assert isinstance(event, Failed)
    assert "GetJob" in event.reason and "job_list" in event.reason


def test_a_request_must_match_its_exchange() -> None:
    client = greeted_client()
    with pytest.raises(LocalProtocolError, match="GetJob is not a ListJobs"):
        client.request(LIST_JOBS, lambda i: GetJob(id=i, job_id=1))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="built with id 0"):
        client.request(GET_JOB, lambda i: GetJob(id=0, job_id=1))


def test_a_stream_delivers_items_then_its_end_as_last() -> None:
    client = greeted_client()
    stream_id, data = client.request(FOLLOW_LOG, lambda i: FollowLog(id=i, job_id=3, offset=0))
    assert decode_all(data) == [FollowLog(id=stream_id, job_id=3, offset=0)]
    chunk = LogChunk(id=stream_id, job_id=3, offset=0, data=b"hi", size=2)
    end = LogEnd(id=stream_id, offset=2, job=JOB)
    client.receive_data(encode(chunk) + encode(end) + encode(chunk), 1)
    # The chunk after the end belongs to no open stream and is dropped.
    assert client_events(client) == [
        Streamed(stream_id, chunk, last=False),
        Streamed(stream_id, end, last=True),
    ]


def test_an_error_ends_a_stream_and_an_endless_stream_only_ends_so() -> None:
    client = greeted_client()
    stream_id, _ = client.request(WATCH_JOBS, lambda i: WatchJobs(id=i))
    listing = JobTableUpdate(id=stream_id, reset=True, jobs=[JOB])
    error = Error(id=stream_id, code=ErrorCode.INTERNAL, message="boom")
    client.receive_data(encode(listing) + encode(listing) + encode(error), 1)
    assert client_events(client) == [
        Streamed(stream_id, listing, last=False),
        Streamed(stream_id, listing, last=False),
        Streamed(stream_id, error, last=True),
    ]
    assert client.open_requests == 0


def test_a_foreign_message_on_a_stream_fails_the_connection() -> None:
    client = greeted_client()
    stream_id, _ = client.request(WATCH_JOBS, lambda i: WatchJobs(id=i))
    client.receive_data(encode(JobReply(id=stream_id, job=JOB)), 1)
    (event,) = client_events(client)
    assert isinstance(event, Failed) and "WatchJobs" in event.reason


def test_unsubscribing_drops_what_was_already_on_the_way() -> None:
    client = greeted_client()
    stream_id, _ = client.request(WATCH_JOBS, lambda i: WatchJobs(id=i))
    (unsubscribe,) = decode_all(client.unsubscribe(stream_id))
    assert isinstance(unsubscribe, Unsubscribe) and unsubscribe.stream_id == stream_id
    assert client.unsubscribe(stream_id) == b""  # once is enough
    update = JobTableUpdate(id=stream_id, reset=True)
    client.receive_data(encode(update) + encode(Ok(id=unsubscribe.id)), 1)
    assert client_events(client) == []
    assert client.open_requests == 0


def test_a_forgotten_request_has_its_late_reply_ignored() -> None:
    client = greeted_client()
    request_id, _ = client.request(GET_JOB, lambda i: GetJob(id=i, job_id=3))
    client.forget(request_id)
    client.receive_data(encode(JobReply(id=request_id, job=JOB)), 1)
    assert client_events(client) == []


def test_an_error_without_id_ends_the_connection() -> None:
    client = greeted_client()
    client.receive_data(encode(Error(code=ErrorCode.FRAME_TOO_LARGE, message="too big")), 1)
    assert client_events(client) == [Failed("too big")]
    with pytest.raises(LocalProtocolError, match="over: too big"):
        client.request(GET_JOB, lambda i: GetJob(id=i, job_id=1))


def test_end_of_file_and_bad_frames_fail_the_connection_once() -> None:
    client = greeted_client()
    client.receive_data(b"", 1)
    client.receive_data(b"", 2)
    assert client_events(client) == [Failed("the runner closed the connection")]
    broken = greeted_client()
    broken.receive_data((MAX_FRAME_BYTES + 1).to_bytes(4, "big"), 1)
    (event,) = client_events(broken)
    assert isinstance(event, Failed) and "bad frame" in event.reason


# -- the heartbeat: time is passed in, so these take no time -------------------


def test_the_heartbeat_pings_and_a_silent_link_dies_after_the_timeout() -> None:
    client = greeted_client(now=0.0)
    for now in (1.0, 2.0, 3.0):
        (ping,) = decode_all(client.tick(now))
        assert isinstance(ping, Ping)
    assert client.failure is None
    assert client.tick(4.0) == b""  # 4 s of silence with a 3 s timeout
    assert client_events(client) == [Failed("no answer for 4 s (link dead?)")]


def test_pongs_keep_the_link_alive_and_are_not_reported() -> None:
    client = greeted_client(now=0.0)
    pings = 0
    for now in range(1, 20):
        for ping in decode_all(client.tick(float(now))):
            pings += 1
            client.receive_data(encode(Pong(id=ping.id)), now + 0.1)  # type: ignore[union-attr]
    assert client.failure is None
    assert client_events(client) == []
    assert pings >= 9  # every other tick: a pong 0.9 s before a tick says the link lives


def test_a_link_busy_with_a_stream_pings_only_to_keep_the_runner_hearing() -> None:
    client = greeted_client(now=0.0, heartbeat=Heartbeat(interval_s=3.0, timeout_s=10.0))
    sent = []
    for tenth in range(1, 600):  # a minute of a stats sample every 0.5 s
        now = tenth / 10
        if tenth % 5 == 0:
            client.receive_data(encode(Pong(id=999)), now)  # any message is traffic
        if tenth % 30 == 0:
            sent += [(now, m) for m in decode_all(client.tick(now))]
    assert client.failure is None
    assert [now for now, _ in sent] == [12.0, 24.0, 36.0, 48.0]  # PING_AT_LEAST_S apart
    assert all(isinstance(m, Ping) for _, m in sent)


def test_a_held_up_process_is_not_mistaken_for_a_dead_link() -> None:
    client = greeted_client(now=0.0)
    client.tick(1.0)
    # The laptop slept for a minute: the next tick comes 60 s late.
    assert decode_all(client.tick(61.0))
    assert client.failure is None
    client.tick(62.0)
    client.tick(63.0)
    client.tick(64.5)
    assert client.failure == "no answer for 4 s (link dead?)"


def test_silence_while_the_caller_stopped_reading_does_not_count() -> None:
    client = greeted_client(now=0.0)
    for now in (1.0, 2.0, 3.0, 4.0, 5.0):
        client.tick(now, receiving_paused=True)
    assert client.failure is None
    client.tick(6.0)
    assert client.failure is not None


# -- the server half -------------------------------------------------------------


def test_requests_before_hello_are_refused_and_the_connection_stays() -> None:
    server = ServerConnection(WELCOME, 0.0)
    server.receive_data(encode(GetJob(id=5, job_id=1)), 0.0)
    (error,) = decode_all(server.data_to_send())
    assert error == Error(id=5, code=ErrorCode.NOT_READY, message="say hello first")
    assert server_events(server) == []
    assert server.closed is None


def test_another_protocol_is_told_which_side_to_upgrade_and_closed() -> None:
    server = ServerConnection(WELCOME, 0.0)
    server.receive_data(encode(Hello(protocol=PROTOCOL_VERSION + 1, client_version="2.0")), 0)
    (error,) = decode_all(server.data_to_send())
    assert isinstance(error, Error) and error.code == ErrorCode.INCOMPATIBLE
    assert "connect again and tether upgrades the runner" in error.message
    assert [type(e) for e in server_events(server)] == [Closed]


def test_pings_and_unsubscribes_are_answered_by_the_rules_alone() -> None:
    server = greeted_server()
    server.receive_data(encode(WatchJobs(id=1)) + encode(Ping(id=2)), 1)
    assert decode_all(server.data_to_send()) == [Pong(id=2)]
    assert server_events(server) == [RequestReceived(WatchJobs(id=1), WATCH_JOBS)]
    server.receive_data(encode(Unsubscribe(id=3, stream_id=1)), 2)
    assert decode_all(server.data_to_send()) == [Ok(id=3)]
    assert server_events(server) == [StreamCancelled(1)]
    # What the handler sends after the client left is dropped, not an error.
    assert server.send(JobTableUpdate(id=1, reset=True)) == b""


def test_the_server_refuses_reused_ids_and_non_requests() -> None:
    server = greeted_server()
    server.receive_data(encode(WatchJobs(id=1)) + encode(WatchJobs(id=1)), 1)
    server.receive_data(encode(Pong(id=9)), 1)
    assert decode_all(server.data_to_send()) == [
        Error(id=1, code=ErrorCode.BAD_REQUEST, message="request id 1 is already open"),
        Error(id=9, code=ErrorCode.BAD_REQUEST, message="pong is not a request"),
    ]
    assert len(server_events(server)) == 1


def test_what_the_runner_sends_is_checked_against_the_table() -> None:
    server = greeted_server()
    server.receive_data(
        encode(GetJob(id=1, job_id=3)) + encode(FollowLog(id=2, job_id=3, offset=0)), 1
    )
    with pytest.raises(LocalProtocolError, match="JobList cannot answer GetJob 1"):
        server.send(JobList(id=1, jobs=[]))
    assert decode_all(server.send(JobReply(id=1, job=JOB))) == [JobReply(id=1, job=JOB)]
    chunk = LogChunk(id=2, job_id=3, offset=0, data=b"x", size=1)
    assert server.send(chunk)
    assert server.send(LogEnd(id=2, offset=1, job=JOB))
    assert server.send(chunk) == b""  # the stream is over
    with pytest.raises(LocalProtocolError, match="no request 7"):
        server.send(JobReply(id=7, job=JOB))


def test_a_bad_message_is_answered_but_a_broken_stream_closes() -> None:
    server = greeted_server()
    payload = msgpack.packb({"type": "nope", "id": 4})
    server.receive_data(len(payload).to_bytes(4, "big") + payload, 1)
    (error,) = decode_all(server.data_to_send())
    assert isinstance(error, Error) and error.code == ErrorCode.UNKNOWN_TYPE and error.id == 4
    assert server.closed is None
    server.receive_data((2**30).to_bytes(4, "big"), 2)
    (error,) = decode_all(server.data_to_send())
    assert isinstance(error, Error) and error.code == ErrorCode.FRAME_TOO_LARGE
    assert [type(e) for e in server_events(server)] == [Closed]


def test_a_silent_client_runs_out_of_time_and_any_byte_resets_it() -> None:
    server = greeted_server(now=0.0, silence=30.0)
    assert server.silence_left(10.0) == 20.0
    server.receive_data(encode(Ping(id=1)), 25.0)
    assert server.silence_left(50.0) == 5.0


# -- both halves together --------------------------------------------------------


def test_a_client_and_a_server_agree_over_a_whole_exchange() -> None:
    client = ClientConnection("1.0", 0.0)
    server = ServerConnection(WELCOME, 0.0)
    server.receive_data(client.hello(), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    assert client_events(client) == [Welcomed(WELCOME.model_copy(update={"compression": "zlib"}))]

    stream_id, data = client.request(FOLLOW_LOG, lambda i: FollowLog(id=i, job_id=3, offset=0))
    request_id, more = client.request(PING, lambda i: Ping(id=i))
    server.receive_data(data + more, 1.0)
    (received,) = server_events(server)
    assert isinstance(received, RequestReceived) and received.exchange is FOLLOW_LOG
    wire = server.data_to_send()  # the pong
    for offset in range(3):
        chunk = LogChunk(id=stream_id, job_id=3, offset=offset, data=b"a", size=3)
        wire += server.send(chunk)
    wire += server.send(LogEnd(id=stream_id, offset=3, job=JOB))
    # Byte by byte: framing does not depend on how the bytes arrive.
    for i in range(len(wire)):
        client.receive_data(wire[i : i + 1], 2.0)
    events = client_events(client)
    assert [e.message.type for e in events] == [  # type: ignore[union-attr]
        "pong",
        "log_chunk",
        "log_chunk",
        "log_chunk",
        "log_end",
    ]
    assert isinstance(events[-1], Streamed) and events[-1].last
    last: Optional[ClientEvent] = events[0]
    assert isinstance(last, Answered) and last.request_id == request_id
