"""The text of a host-side script (`tui.install.host_install`,
`tui.install.host_facts`) as the host's python3 runs it.

Those scripts import the host layout (and the number formats) from `protocol`
like any module, so that tests import them, mypy checks them and the layout is
spelled once. The host may have no tether at all, though: the script travels as
text on stdin. So each ``from protocol.NAME import ...`` line is replaced by
the text of ``protocol/NAME.py`` itself, which works because the modules a
host script may import are standard library only and import nothing from
tether (checked here, so a wrong import fails on this machine, not on a host).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import protocol

_PROTOCOL_DIR = Path(protocol.__file__).resolve().parent
_IMPORT = re.compile(r"^from protocol\.(\w+) import (\([\w,\s]*\)|[\w, ]+)$", re.MULTILINE)
_TETHER_IMPORT = re.compile(r"^\s*(from|import) (protocol|runner|tui)\b", re.MULTILINE)
_FUTURE = "from __future__ import annotations\n"


def host_script(module: ModuleType) -> bytes:
    """`module`'s source with its `protocol` imports inlined, ready for ``python3 -I -``."""
    assert module.__file__ is not None
    text = Path(module.__file__).read_text(encoding="utf-8")
    return _IMPORT.sub(lambda m: _inlined(m.group(1)), text).encode()


def _inlined(name: str) -> str:
    source = (_PROTOCOL_DIR / f"{name}.py").read_text(encoding="utf-8")
    body = source.replace(_FUTURE, "", 1)
    if _TETHER_IMPORT.search(body):
        raise RuntimeError(f"protocol/{name}.py imports tether, so no host script can inline it")
    return f"# -- protocol/{name}.py, inlined --\n{body.strip()}\n# -- end of protocol/{name}.py --"
