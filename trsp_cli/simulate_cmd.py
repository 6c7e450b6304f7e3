"""``trsp simulate``: run the fast simulator into a checkpointed, resumable HDF5 run file.

A thin shell: the job (resume protocol, snapshots, checkpoints, resource estimates) is
:func:`trsp_fast.run_job.simulate_to_file`; its docstring documents every option, and
``trsp_cli.main`` declares them once for the command line.
"""

from __future__ import annotations

__all__ = ["run_simulate"]


def run_simulate(*args, **kwargs) -> None:
    """``trsp simulate``: :func:`trsp_fast.run_job.simulate_to_file` (imported late: Numba is slow to import)."""
    from trsp_fast.run_job import simulate_to_file

    simulate_to_file(*args, **kwargs)
