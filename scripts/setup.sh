#!/usr/bin/env bash
# Prepares a fresh machine for tether: a .venv with the project and its dev tools.
# With TETHER_SETUP_TESTS=1 (scripts/test) also the system parts the tests use
# (OpenSSH's sshd, tmux, crontab) where they are missing, with apt-get as root;
# the product's own first run (scripts/tether) installs nothing system-wide and
# only says what a missing part would be needed for.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null || need_apt+=(openssh-client)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v crontab >/dev/null || need_apt+=(cron)  # `tether-runner cron` and its tests
if [ ${#need_apt[@]} -gt 0 ] && [ "${TETHER_SETUP_TESTS:-0}" != 1 ]; then
  command -v ssh >/dev/null \
    || echo "setup: note: no ssh client here; remote hosts need OpenSSH's (apt-get install openssh-client)" >&2
  command -v crontab >/dev/null \
    || echo "setup: note: no crontab here; \`tether cron install\` needs cron (apt-get install cron)" >&2
elif [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null; }
  else
    echo "setup: please install ${need_apt[*]} (the SSH and tmux tests need them)" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.tether-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing tether and its dev tools into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' --config-settings editable_mode=compat
  touch "$stamp"
fi
if [ "${TETHER_WITH_TORCH:-0}" = 1 ] && ! .venv/bin/python -c 'import torch, sklearn, lightning' 2>/dev/null; then
  echo "setup: installing torch (CPU build) for the example trainer"
  .venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0 scikit-learn lightning==2.6.6
fi
