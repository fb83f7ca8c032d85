"""Slurm as an executor: the runner hands a job's shim to Slurm on a cluster's login node.

`states` reads what ``squeue`` and ``sacct`` print and says what it means for a tether
job (sans-IO); `script` writes the batch script and the ``sbatch`` options from a job's
Slurm resources (sans-IO); `commands` runs the real Slurm commands without blocking
the event loop. Standard library only: this runs on the person's login node.
"""
