"""trsp_verify: the calibrated statistical verification battery for TRSP implementations.

``trsp verify RUN.h5 ...`` checks run files (docs/formats.md) written by any
implementation against the model they declare, with the dense oracle (trsp_ref) as the
model side; docs/verification.md documents every check, its statistic, the battery's
error rates and how to verify another code.

Public API: :func:`verify` (replicas -> :class:`Report`), :class:`RunData` (one replica
in memory), :func:`load_runs` (run files, streamed), :func:`simulate_replicas`,
:data:`FAMILY_ALPHA`, :class:`VerifyInputError`, the exit statuses ``EXIT_*``.
"""

from .battery import EXIT_FAIL, EXIT_INCOMPLETE, EXIT_PASS, EXIT_UNUSABLE, MIN_EVENTS, Report, verify  # noqa: F401
from .checks import FAMILY_ALPHA, CheckResult  # noqa: F401
from .data import FileReplica, Replica, RunData, VerifyInputError, load_runs  # noqa: F401


def simulate_replicas(*args, **kwargs):
    """See :func:`trsp_verify.simulate.simulate_replicas` (imported lazily: it loads Numba)."""
    from .simulate import simulate_replicas as _sim

    return _sim(*args, **kwargs)
