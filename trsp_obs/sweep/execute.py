"""Running members on Dask: a LocalCluster (default) or an existing scheduler, finished members
saved to the store as they arrive, failures collected (the sweep goes on without them)."""

from __future__ import annotations

import os
from contextlib import nullcontext

from . import members
from .members import MemberSpec
from .store import MemberStore

__all__ = ["execute"]


def execute(todo: list[MemberSpec], store: MemberStore, *, scheduler=None, progress=True, n_workers=2, client=None) -> list[tuple[str, str]]:
    """Run ``todo`` and store each result; return (task key, error) of the members that failed.

    scheduler : address of a running Dask scheduler; default a LocalCluster of ``n_workers``
        single-threaded worker processes.  client : an existing Client (never closed here).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    own_cluster = own_client = None
    if client is None:
        if scheduler:
            client = own_client = Client(scheduler)
        else:
            # one BLAS / Numba thread per worker: the workers are the parallelism
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
                os.environ.setdefault(var, "1")
            own_cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40,
            )  # fmt: skip
            client = own_client = Client(own_cluster)
    failures = []
    try:
        # the key names the task on a (possibly shared) scheduler: sweep digest + member id
        # (members.run_member is looked up now, so a test can replace it)
        futures = [client.submit(members.run_member, s, key=f"trsp-{s.digest}-{s.id}", pure=False) for s in todo]
        with _progress(progress) as bar:
            task = bar.add_task("members", total=len(todo)) if bar else None
            for future in as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:  # a member failed: keep going, report at the end
                    failures.append((future.key, f"{type(exc).__name__}: {exc}"))
                else:
                    store.write(result)
                future.release()
                if bar:
                    bar.advance(task)
    finally:
        if own_client is not None:  # never close a client (or cluster) the caller owns
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
    return failures


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), transient=False,
    )  # fmt: skip
