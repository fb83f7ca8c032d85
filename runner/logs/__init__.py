"""A job's files read by byte offset: its log and its metrics, read once or followed."""
