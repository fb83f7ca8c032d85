"""Remote hosts over SSH: options from the person's SSH config, host-key checks,
the runner bootstrap, and channels (streamlocal or exec bridge) to the runner."""
