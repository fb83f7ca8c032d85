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
#: Ports one job may declare it serves (`tether run --port`).
MAX_JOB_PORTS = 16
#: Slurm: the most nodes one job may ask for, and extra ``sbatch`` arguments.
MAX_SLURM_NODES = 1024
MAX_SBATCH_ARGS = 32
MAX_ENV_VALUE_CHARS = 32 * 1024
#: Longest path (cwd) accepted, in characters (Linux PATH_MAX).
MAX_PATH_CHARS = 4096
#: Most jobs one `job_list` reply carries; older ones need `--all` paging.
MAX_LIST_JOBS = 2000
#: Most jobs a job table stream (`WatchJobs`) holds: the newest of them, with
#: ``more`` saying there are older ones.
MAX_WATCH_JOBS = 20_000
#: What one part of a `JobTableUpdate` carries: jobs (whole, so they fill a
#: frame soonest), and ids (gone, or moved in the queue).
MAX_WATCH_PART_JOBS = 500
MAX_WATCH_PART_IDS = 50_000
#: A finished job stays in the table of active and recent jobs this long.
RECENT_WINDOW_S = 24 * 3600
#: Most jobs one `--after` may name (a job waits for each of them to end).
MAX_AFTER_JOBS = 256
#: The range of `--priority`: higher runs first among jobs waiting for GPUs.
MIN_PRIORITY = -1_000_000
MAX_PRIORITY = 1_000_000
#: `--retry N`: how many more attempts a failed job may have.
MAX_RETRIES = 100
#: The longest ``--stall-after`` (a week): past that, 0 (never) says it better.
MAX_STALL_AFTER_S = 7 * 24 * 3600.0
#: `--group NAME` and `--label KEY=VALUE`: names (group, label key) are letters,
#: digits and ``._-`` (starting with a letter or digit), so they read the same in
#: a table, a shell and JSON; values are printable text.
MAX_GROUP_CHARS = 64
MAX_LABELS = 32
MAX_LABEL_KEY_CHARS = 64
MAX_LABEL_VALUE_CHARS = 256
#: An idempotency key (a client makes a random one per state-changing request).
MAX_REQUEST_KEY_CHARS = 64
#: Longest signal name `SignalJob` carries (the names are short: ``USR1``).
MAX_SIGNAL_NAME_CHARS = 16
#: The largest process id a request may name (Linux hands out at most 2**22).
MAX_PID = 2**31 - 1
#: The signals a job may be sent (`protocol.signals`), by name without ``SIG``, most
#: asked for first; here, beside the other limits, so a verb's help reads them
#: without loading the messages.
JOB_SIGNALS = ("TERM", "INT", "KILL", "USR1", "USR2", "HUP", "QUIT")
#: Most lines `--tail` may ask for.
MAX_TAIL_LINES = 10_000_000
#: Seconds between heartbeats; a peer silent for `HEARTBEAT_TIMEOUT_S` is dead.
HEARTBEAT_INTERVAL_S = 3.0
HEARTBEAT_TIMEOUT_S = 10.0
#: The runner drops a client it has heard nothing from (not even a ping) this long.
PEER_SILENCE_LIMIT_S = 30.0

# -- training metrics (`protocol.metrics`) ---------------------------------------

#: Raw bytes of the metrics file one chunk covers at most.
MAX_METRICS_CHUNK_BYTES = 256 * 1024
#: Most records one chunk carries. With the byte cap above this keeps the worst
#: case (many tiny lines, each growing when parsed) well inside one frame.
MAX_METRICS_RECORDS = 2048
#: A longer line is skipped as malformed: a record is a handful of numbers.
MAX_METRICS_LINE_BYTES = 64 * 1024
#: Largest step (msgpack carries 64-bit integers).
MAX_METRIC_STEP = 2**63 - 1
#: Longest explanation of a skipped line.
MAX_MALFORMED_TEXT = 200

# -- GPU, host and job stats (`protocol.stats`) ------------------------------------

#: Most GPUs one sample describes.
MAX_GPUS = 32
#: Most processes listed per GPU (largest GPU memory first); the rest are counted
#: in `GpuReading.processes_omitted`.
MAX_GPU_PROCESSES = 256
#: Most CPU cores listed in `HostReading.cpu_per_core_pct`.
MAX_CPU_CORES = 1024
#: Most running jobs listed per sample; the rest are counted in `jobs_omitted`.
MAX_STATS_JOBS = 256
#: Longest error text, reason a field is missing, GPU name, and process name
#: (Linux keeps 15 characters of a process's name).
MAX_STATS_TEXT = 256
MAX_REASON = 128
MAX_GPU_NAME = 96
MAX_PROCESS_NAME = 16
#: Most entries in `GpuReading.missing` (there are fewer fields than this).
MAX_MISSING = 16
#: A client may ask for any rate in this range; the runner then applies its own
#: floor (it never samples faster than it is configured to allow).
MIN_STATS_INTERVAL_S = 0.01
MAX_STATS_INTERVAL_S = 3600.0
#: Most history a client may ask for, in seconds.
MAX_HISTORY_S = 24 * 3600.0
#: Most samples one `StatsHistory` batch carries (the runner also keeps each
#: batch well under the frame limit by size).
MAX_HISTORY_BATCH = 1000

# -- snapshots and pulls (`protocol.sync`, `protocol.manifest`) ---------------------

#: Most files one snapshot may hold, whatever the client allows (its own default
#: refuses a tree over `SYNC_DEFAULT_MAX_FILES` before sending anything).
MAX_SNAPSHOT_FILES = 1_000_000
#: What `tether run --sync` refuses without `--sync-max`: files, and bytes in all.
SYNC_DEFAULT_MAX_FILES = 100_000
SYNC_DEFAULT_MAX_BYTES = 2 * 1024**3
#: Most digests one `blobs_wanted` asks about (64 hex characters each).
MAX_WANTED_DIGESTS = 8192
#: Most bytes of file data one `put_blobs` carries (in one or several parts), and
#: most parts: small files travel many to a frame.
MAX_PUT_BYTES = 768 * 1024
MAX_PUT_PARTS = 4096
#: Most files one `output_list` reply names; the client asks again `after` the last.
MAX_OUTPUT_FILES = 2000
#: Largest slice one `output_chunk` carries.
MAX_OUTPUT_CHUNK_BYTES = 768 * 1024
#: Days a snapshot or a stored file lives after the last job that used it ended.
SNAPSHOT_KEEP_DAYS = 14

# -- compression on the wire (`protocol.compression`) -----------------------------

#: Frames smaller than this are always sent plain: too small to shrink by much.
MIN_COMPRESS_BYTES = 512
#: A compressed frame is sent only if it is at most this fraction of the plain one.
COMPRESS_WORTH_RATIO = 0.9
#: Frames at least this big are first judged by compressing one sample of this
#: size from their middle: a checkpoint's random bytes cost one small try, not a
#: whole frame's.
COMPRESS_SAMPLE_BYTES = 16 * 1024
#: zlib's level: the fastest, which already shrinks logs five to ten times.
ZLIB_LEVEL = 1
#: Most bytes one compressed frame may inflate to (a zip bomb stops here): one frame.
MAX_DECOMPRESSED_FRAME_BYTES = MAX_FRAME_BYTES

# -- a Slurm cluster's load (`protocol.cluster`) --------------------------------

#: Most partitions one `cluster_load` lists.
MAX_PARTITIONS = 256
#: Most of the person's Slurm jobs it lists (newest first); the rest are counted.
MAX_CLUSTER_JOBS = 500
#: Longest Slurm word it carries (a partition, a node list, a pending reason).
MAX_SLURM_TEXT = 512
