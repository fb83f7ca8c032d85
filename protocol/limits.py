"""Every hard limit of the wire, in one place.

Both sides check these before allocating anything: a frame's length prefix is
compared with `MAX_FRAME_BYTES` before a single payload byte is buffered.
"""

#: Bytes in the big-endian length prefix of every frame.
FRAME_HEADER_BYTES = 4
#: Largest msgpack payload of one frame. A log chunk plus its envelope fits with room.
MAX_FRAME_BYTES = 1024 * 1024
#: Largest raw log slice one `log_chunk` carries.
MAX_LOG_CHUNK_BYTES = 256 * 1024
#: What a follower's batches aim for: big enough to keep a tunnel busy, small enough
#: to reach the screen within a few milliseconds.
FOLLOW_BATCH_BYTES = 64 * 1024
#: Longest job name, in characters.
MAX_NAME_CHARS = 128
#: Most argv items, and the most bytes of them all together.
MAX_ARGV_ITEMS = 4096
MAX_ARGV_BYTES = 256 * 1024
#: Most environment variables one job may set, and longest value.
MAX_ENV_ITEMS = 512
MAX_ENV_VALUE_CHARS = 32 * 1024
#: Longest path (cwd) accepted, in characters (Linux PATH_MAX).
MAX_PATH_CHARS = 4096
#: Most jobs one `job_list` reply carries; older ones need `--all` paging.
MAX_LIST_JOBS = 2000
#: Most lines `--tail` may ask for.
MAX_TAIL_LINES = 10_000_000
#: Seconds between heartbeats; a peer silent for `HEARTBEAT_TIMEOUT_S` is dead.
HEARTBEAT_INTERVAL_S = 3.0
HEARTBEAT_TIMEOUT_S = 10.0
#: The runner drops a client it has heard nothing from (not even a ping) this long.
PEER_SILENCE_LIMIT_S = 30.0
