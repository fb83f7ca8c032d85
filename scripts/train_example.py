#!/usr/bin/env python3
"""Train a small classifier on scikit-learn's handwritten digits: tether's demo job.

A real, if small, PyTorch training run: an MLP learns the 8x8 digits data set
that ships inside scikit-learn (1,797 images, no download). It trains on CUDA
when a GPU is visible and on the CPU otherwise, shows a tqdm progress bar per
epoch, reports its loss, learning rate and validation scores to tether (see
`runner.report`), and saves a checkpoint after every epoch, atomically (a copy
is written, synced, then renamed over the old one), so a job cancelled or
killed at any moment leaves the last finished epoch on disk. ``--resume``
carries on from there: same model, optimizer and schedule, same data order.

With the default settings it finishes in a few seconds on a laptop CPU::

    tether run -- python scripts/train_example.py --epochs 20
    tether metrics -f JOB
    tether cancel JOB
    tether run -- python scripts/train_example.py --epochs 20 --resume

Needs ``pip install 'tether[train]'`` (torch, tqdm, scikit-learn).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

CHECKPOINT_NAME = "last.pt"


def _report_function() -> Any:
    """`runner.report.report`, also when run from a checkout without installing tether."""
    try:
        from runner.report import report
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from runner.report import report
    return report


def parse_args(argv: Any = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train an MLP on scikit-learn's digits with checkpoints, resume and "
        "metrics reported to tether ($TETHER_METRICS).",
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs in all (default 10)")
    parser.add_argument("--batch-size", type=int, default=64, help="default 64")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (3e-3)")
    parser.add_argument("--hidden", type=int, default=128, help="hidden layer width (128)")
    parser.add_argument(
        "--checkpoint-dir",
        default=None,
        metavar="DIR",
        help="where last.pt is kept (default: the tether job's own folder, beside its "
        "log; run by hand, ./checkpoints/train_example); give the same DIR to --resume",
    )
    parser.add_argument(
        "--resume", action="store_true", help="carry on from DIR/last.pt when there is one"
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda if any"
    )
    parser.add_argument("--seed", type=int, default=0, help="data split, init and order (0)")
    parser.add_argument(
        "--report-every", type=int, default=5, metavar="N", help="report train loss every N steps"
    )
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "hidden", "report_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be 1 or more")
    if args.lr <= 0:
        parser.error("--lr must be above 0")
    return args


def pick_device(torch: Any, choice: str) -> Any:
    if choice == "cuda" and not torch.cuda.is_available():
        sys.exit("train_example: --device cuda, but PyTorch sees no CUDA GPU here")
    if choice == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def load_digits(torch: Any, seed: int, device: Any) -> Tuple[Any, Any, Any, Any]:
    """Train and validation tensors (80/20, split by `seed`), already on `device`."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int(len(x) * 0.8)
    train, val = order[:cut], order[cut:]
    return x[train].to(device), y[train].to(device), x[val].to(device), y[val].to(device)


def build_model(torch: Any, hidden: int) -> Any:
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),
    )


def checkpoint_dir(given: Optional[str]) -> Path:
    """`given`, else the job's own folder under tether (where its log and metrics
    are: never the checkout the command was started from), else one here."""
    if given:
        return Path(given)
    metrics = os.environ.get("TETHER_METRICS")
    if metrics:
        return Path(metrics).parent / "checkpoints"
    return Path("checkpoints") / "train_example"


def save_checkpoint(torch: Any, directory: Path, state: Dict[str, Any]) -> Path:
    """Write `state` so that a reader finds the old checkpoint or the new, never half."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / CHECKPOINT_NAME
    partial = directory / f".{CHECKPOINT_NAME}.{os.getpid()}.partial"
    with open(partial, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, final)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def load_checkpoint(torch: Any, directory: Path, args: argparse.Namespace) -> Any:
    path = directory / CHECKPOINT_NAME
    if not path.exists():
        print(f"no checkpoint in {directory}: starting from scratch", flush=True)
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["hidden"] != args.hidden:
        sys.exit(
            f"train_example: {path} was trained with --hidden {state['hidden']}; "
            f"pass that, or another --checkpoint-dir to start afresh"
        )
    return state


def evaluate(torch: Any, model: Any, x: Any, y: Any) -> Tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    model.train()
    return loss, accuracy


def train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    report = _report_function()
    torch.manual_seed(args.seed)
    device = pick_device(torch, args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}); torch {torch.__version__}", flush=True)
    x_train, y_train, x_val, y_val = load_digits(torch, args.seed, device)
    steps_per_epoch = -(-len(x_train) // args.batch_size)
    model = build_model(torch, args.hidden).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=args.epochs * steps_per_epoch
    )
    directory = checkpoint_dir(args.checkpoint_dir)
    first_epoch, step = 0, 0
    state = load_checkpoint(torch, directory, args) if args.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        schedule.T_max = args.epochs * steps_per_epoch  # --epochs may have grown
        first_epoch, step = state["epoch"], state["step"]
        print(f"resumed from {directory / CHECKPOINT_NAME}: epoch {first_epoch}, step {step}")
    if first_epoch >= args.epochs:
        print(f"already trained for {first_epoch} epochs (--epochs {args.epochs}): nothing to do")
        return 0
    print(f"training {args.epochs - first_epoch} epochs of {steps_per_epoch} steps", flush=True)
    started = time.monotonic()
    for epoch in range(first_epoch, args.epochs):
        # The order depends only on (seed, epoch): a resumed run sees what it would have.
        order = torch.randperm(
            len(x_train), generator=torch.Generator().manual_seed(args.seed * 100_003 + epoch)
        ).to(device)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", unit="step")
        running, seen = 0.0, 0
        for index in bar:
            batch = order[index * args.batch_size : (index + 1) * args.batch_size]
            loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            running += loss.item()
            seen += 1
            if step % args.report_every == 0:
                report(step=step, loss=running / seen, lr=schedule.get_last_lr()[0])
                bar.set_postfix(loss=f"{running / seen:.3f}", refresh=False)
                running, seen = 0.0, 0
        val_loss, val_acc = evaluate(torch, model, x_val, y_val)
        report(step=step, epoch=epoch + 1, val_loss=val_loss, val_acc=val_acc)
        state = {
            "epoch": epoch + 1,
            "step": step,
            "hidden": args.hidden,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
        }
        saved = save_checkpoint(torch, directory, state)
        print(
            f"epoch {epoch + 1}: val_loss {val_loss:.4f} val_acc {val_acc:.3f}; saved {saved}",
            flush=True,
        )
    print(f"done in {time.monotonic() - started:.1f} s: val_acc {val_acc:.3f}", flush=True)
    return 0


def main(argv: Any = None) -> int:
    return train(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
