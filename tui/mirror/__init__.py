"""The client's local mirror of its remote hosts: the last job list of each and
every log and metrics byte read from them, kept so that a host that cannot be
reached still answers, marked stale (`tui.cli.offline`).

`host.HostMirror` is one host's copy on disk, `prefix_file` the rule that keeps
each copy an exact prefix of the host's file, `writer.MirrorWriter` the
session's sink that writes off the event loop, `prune` the size cap.
"""
