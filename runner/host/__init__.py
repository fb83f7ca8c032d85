"""The runner as a process on its host: the command line, the cron entry, the
logind scope, the exec-channel bridge and the host-side status client."""
