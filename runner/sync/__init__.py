"""Snapshots on the host: the blob store, a job's private copy of a snapshot, its
outputs, and the collection of what no job uses any more (`protocol.sync`)."""
