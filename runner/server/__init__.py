"""The daemon: its socket, one connection per client, and a handler per request."""
