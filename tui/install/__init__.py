"""Zero-install hosts: putting the matching runner on a host that has only sshd
and python3, keeping it matched to this client, and saying what is wrong when a
host cannot run it (`tether doctor`).

Nothing here needs root, pip, venv or ensurepip on the host. The runner's own code
and the wheels of its dependencies travel from the client when the host cannot
fetch them itself; everything lands in a versioned directory under the host
user's data dir, complete only once a marker written last says so.
"""
