"""Reporting training metrics to tether from a training script: ``report(step=..., loss=...)``.

Every job tether starts has ``TETHER_METRICS`` in its environment: the path of a
file to append one JSON object per line to. That is the whole contract, and a
script may write the lines itself; this module only spares the typing::

    from runner.report import report

    for step, batch in enumerate(loader):
        loss = train_step(batch)
        if step % 10 == 0:
            report(step=step, loss=loss, lr=scheduler.get_last_lr()[0])

`tether metrics JOB` prints what was reported and the app draws it as curves.

Importing this module costs nothing (the standard library only, no pydantic, no
torch), so it is safe to import from any training script on a host where the
runner is installed. Outside tether (``TETHER_METRICS`` unset) `report` does
nothing and warns once, so the same script runs anywhere. Under ``torchrun`` and
other launchers that set ``RANK``, only rank 0 writes: call it from every rank.

PyTorch Lightning users add ``TetherCallback()`` to their ``Trainer``'s callbacks
instead; Lightning is imported only when that name is first used.
"""

from __future__ import annotations

import importlib
import json
import operator
import os
import time
import warnings

# Type names only: importing `typing` would double what this module costs to import.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Set

#: The variable the runner sets for every job.
METRICS_ENV = "TETHER_METRICS"
#: Names `report` writes itself and so cannot be values.
RESERVED_NAMES = frozenset({"step", "time"})

#: Warnings already given in this process (each is given once).
_warned: Set[str] = set()


def report(step: int, **values: Any) -> None:
    """Append one record: the step, the wall-clock time, and `values` as numbers.

    Values may be anything `float()` takes: Python numbers, NumPy scalars,
    one-element tensors (a CUDA tensor is copied to the host, so report every
    few steps rather than every step). Raises `TypeError` or `ValueError` for a
    step or value that cannot be recorded, before anything is written.
    """
    path = os.environ.get(METRICS_ENV)
    if not path:
        _warn_unset()
        return
    if os.environ.get("RANK", "0") != "0":
        return
    line = encode_record(step, values)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        # One write of a whole line: appends from several processes never interleave.
        written = 0
        while written < len(line):
            written += os.write(fd, line[written:])
    finally:
        os.close(fd)


def encode_record(step: int, values: Dict[str, Any], now: Optional[float] = None) -> bytes:
    """The JSON line `report` appends (NaN and infinities spelled as Python's json does)."""
    try:
        whole_step = operator.index(step)
    except TypeError:
        raise TypeError(f"report(step=...) takes a whole number of steps, not {step!r}") from None
    if whole_step < 0:
        raise ValueError(f"report(step=...) must be 0 or more, not {whole_step}")
    if not values:
        raise ValueError("report() needs at least one value, e.g. report(step=10, loss=0.3)")
    record: Dict[str, Any] = {"step": whole_step, "time": time.time() if now is None else now}
    for name, value in values.items():
        if name in RESERVED_NAMES:
            raise ValueError(f"report() sets {name!r} itself; give the value another name")
        record[name] = _number(name, value)
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def _number(name: str, value: Any) -> float:
    if isinstance(value, (str, bytes)):
        raise TypeError(f"report({name}=...) takes a number, not the text {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"report({name}=...) takes a number or a one-element tensor, "
            f"not {type(value).__name__} ({exc})"
        ) from None


def _warn_unset() -> None:
    if METRICS_ENV in _warned:
        return
    _warned.add(METRICS_ENV)
    warnings.warn(
        f"{METRICS_ENV} is not set (not running under tether?): metrics are not recorded",
        RuntimeWarning,
        stacklevel=3,
    )


def __getattr__(name: str) -> Any:
    # PEP 562: `TetherCallback` is built on first use, so importing this module
    # never imports Lightning (or torch).
    if name == "TetherCallback":
        callback = _lightning_callback_class()
        globals()[name] = callback
        return callback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _scalar(value: Any) -> Optional[float]:
    """A logged value as a float, or None for what is not one number."""
    numel = getattr(value, "numel", None)
    if callable(numel) and numel() != 1:
        return None
    if isinstance(value, (str, bytes, bool)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _lightning_callback_class() -> type:
    callback_base: Any = None
    for package in ("lightning.pytorch", "pytorch_lightning"):
        try:
            callback_base = importlib.import_module(package).Callback
            break
        except ImportError:
            continue
    if callback_base is None:
        raise ImportError(
            "runner.report.TetherCallback needs PyTorch Lightning: pip install lightning"
        )

    class TetherCallback(callback_base):  # type: ignore[misc]
        """Reports what the LightningModule logs with ``self.log`` to tether.

        Training metrics are reported every `every_n_steps` optimizer steps (by
        default the Trainer's ``log_every_n_steps``), epoch and validation
        metrics when their epoch ends. Only values that changed since they were
        last reported are written, so a validation loss is not repeated at every
        training step. Only the global-zero process writes.
        """

        def __init__(self, every_n_steps: Optional[int] = None) -> None:
            super().__init__()
            if every_n_steps is not None and every_n_steps < 1:
                raise ValueError("TetherCallback(every_n_steps=...) must be 1 or more")
            self.every_n_steps = every_n_steps
            self._last: Dict[str, float] = {}
            self._last_step = -1

        def on_train_batch_end(
            self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
        ) -> None:
            every = self.every_n_steps or getattr(trainer, "log_every_n_steps", 0) or 1
            step = int(trainer.global_step)
            if step != self._last_step and step % every == 0:
                self._last_step = step
                self._report(trainer)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self._report(trainer)

        def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.sanity_checking:
                self._report(trainer)

        def _report(self, trainer: Any) -> None:
            if not trainer.is_global_zero:
                return
            fresh: Dict[str, float] = {}
            for name, value in trainer.callback_metrics.items():
                number = _scalar(value)
                if number is None or name in RESERVED_NAMES or self._last.get(name) == number:
                    continue
                fresh[name] = number
            if fresh:
                self._last.update(fresh)
                report(step=int(trainer.global_step), **fresh)

    return TetherCallback
