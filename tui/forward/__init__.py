"""A host's ports on this machine's 127.0.0.1, as ``ssh -L`` gives them, but kept
across reconnects: the local listener stays while the SSH connection under it is
replaced, so a browser tab on ``http://127.0.0.1:6006`` keeps working."""
