"""The batch script tether gives ``sbatch``, from a job's Slurm resources (sans-IO).

The resources go in as ``#SBATCH`` lines, so the script in a job's directory says by
itself what was asked for; extra ``sbatch`` arguments go on the command line
(`sbatch_argv`), where they override the script. The script's body runs one command
(tether's shim): on one node as the batch script itself, on several once per node
through ``srun``, with the variables a distributed trainer reads (MASTER_ADDR,
MASTER_PORT, NNODES, NODE_RANK).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from protocol.slurm_words import slurm_word_problem


class SlurmResourceError(ValueError):
    """A Slurm resource tether would refuse before ``sbatch`` ever sees it."""


@dataclass(frozen=True)
class SlurmResources:
    """What a job asks Slurm for; None leaves it to the cluster's defaults."""

    partition: Optional[str] = None
    #: Slurm's time format: ``30`` (minutes), ``4:00:00``, ``1-00:00:00``.
    time: Optional[str] = None
    nodes: int = 1
    #: GPUs on each node (``--gpus-per-node``).
    gpus: Optional[int] = None
    #: CPUs for the command on each node (``--cpus-per-task``).
    cpus: Optional[int] = None
    #: Memory on each node: ``64G``, ``512M``; ``0`` is all of a node's memory.
    mem: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    #: More ``sbatch`` arguments, passed as they are (``--constraint=a100``).
    sbatch_args: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for flag, word in (
            ("partition", self.partition),
            ("account", self.account),
            ("qos", self.qos),
            ("time", self.time),
            ("mem", self.mem),
        ):
            problem = None if word is None else slurm_word_problem(flag, word)
            if problem is not None:
                raise SlurmResourceError(problem)
        for what, count in (("nodes", self.nodes), ("gpus", self.gpus), ("cpus", self.cpus)):
            if count is not None and count < 1:
                raise SlurmResourceError(f"--{what} must be at least 1, not {count}")
        for arg in self.sbatch_args:
            if not arg.startswith("-") or "\n" in arg or "\0" in arg:
                raise SlurmResourceError(
                    f"sbatch argument {arg!r} is not an option (it must start with -)"
                )

    def directives(self) -> list[str]:
        """The ``#SBATCH`` options these resources ask for."""
        options = [f"--nodes={self.nodes}"]
        if self.nodes > 1:
            options.append("--ntasks-per-node=1")
        for option, value in (
            ("partition", self.partition),
            ("time", self.time),
            ("gpus-per-node", self.gpus),
            ("cpus-per-task", self.cpus),
            ("mem", self.mem),
            ("account", self.account),
            ("qos", self.qos),
        ):
            if value is not None:
                options.append(f"--{option}={value}")
        return options


def _directive_value(what: str, value: str) -> str:
    """`value` in double quotes, as sbatch reads an ``#SBATCH`` line."""
    if any(c in value for c in '"\\\n\r\0'):
        raise SlurmResourceError(f"{what} {value!r} has a quote, backslash or line break")
    return f'"{value}"'


def batch_script(
    argv: Sequence[str],
    resources: SlurmResources,
    *,
    job_name: str,
    output: Optional[str] = None,
    workdir: Optional[str] = None,
) -> str:
    """The batch script that runs `argv` with `resources`. `output` is where Slurm
    writes the script's own stdout and stderr (Slurm's ``%j`` patterns apply; None:
    nowhere); `workdir` is where it starts (None: where ``sbatch`` was run)."""
    if not argv:
        raise SlurmResourceError("the job has no command to run")
    lines = ["#!/bin/bash", f"#SBATCH --job-name={_directive_value('job name', job_name)}"]
    lines.append(f"#SBATCH --output={_directive_value('output', output or '/dev/null')}")
    if workdir is not None:
        lines.append(f"#SBATCH --chdir={_directive_value('working directory', workdir)}")
    lines += [f"#SBATCH {option}" for option in resources.directives()]
    command = " ".join(shlex.quote(arg) for arg in argv)
    return "\n".join([*lines, "", f"exec {command}", ""])


#: Run on each node by `per_node_argv`: the node's rank, then the command.
ON_EACH_NODE = 'export NODE_RANK="$SLURM_NODEID"; exec "$@"'
#: Run once, by the shim, in the allocation: what a distributed trainer reads,
#: then one task per node, each line of output prefixed with its task (``0: ``).
_ACROSS_NODES = (
    'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"; '
    'MASTER_PORT="${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}"; '
    'NNODES="$SLURM_JOB_NUM_NODES"; export MASTER_ADDR MASTER_PORT NNODES; '
    'exec srun --label --nodes="$NNODES" --ntasks-per-node=1 '
    f'bash -c {shlex.quote(ON_EACH_NODE)} tether-node "$@"'
)


def per_node_argv(argv: Sequence[str]) -> list[str]:
    """`argv` run once on every node of the allocation (``--nodes N``), with
    MASTER_ADDR (the first node), MASTER_PORT, NNODES and NODE_RANK set, so
    ``torchrun --nnodes=$NNODES --node_rank=$NODE_RANK ...`` needs nothing else.
    The shim supervises the one ``srun``: one log, one exit status."""
    return ["bash", "-c", _ACROSS_NODES, "tether-nodes", *argv]


def sbatch_argv(script_path: str, resources: SlurmResources) -> list[str]:
    """The ``sbatch`` command line that submits `script_path`: the job id alone on
    stdout (``--parsable``), the extra arguments after the script's own lines."""
    return ["sbatch", "--parsable", *resources.sbatch_args, script_path]
