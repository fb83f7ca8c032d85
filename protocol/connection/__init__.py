"""The connection's rules as two sans-IO state machines: `client` and `server`.

Like h11: bytes in (`receive_data`), events out (`next_event`), bytes out (the
return value of every call that sends). No socket, no event loop, and no clock:
every call that depends on time is given ``now``. The runner's and the client's
asyncio code are thin loops around these classes, and every rule below is a
plain unit test.

The rules:
- The client says `Hello` first; the server answers `Welcome`, or an
  ``incompatible`` error and closes. Anything else before that is refused
  (``not_ready``) and the connection stays up.
- Each request carries an id the client picked, unique among its open
  requests; every answer carries that id. `protocol.exchanges` says what may
  answer each request: one reply, or a stream of items ending with its end
  message (or never). An `Error` may answer any request or end any stream.
- `Unsubscribe` ends a stream from the client side; items the server had
  already sent for it are dropped by the client.
- The client pings every ``interval_s`` and declares the link dead after
  ``timeout_s`` of silence; the server drops a client it has not heard from
  for ``silence_limit_s`` (pings included).
- A bad message is answered with an error naming it; a broken byte stream is
  answered and then closed, because nothing after it can be framed.
"""
