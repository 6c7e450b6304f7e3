"""trsp_fit: a TRSP model measured from softness trajectories (``trsp fit``; docs/fit.md).

Public API: :func:`fit` (files or :class:`ParticleData` -> :class:`FitResult`), the
particle-data format (:func:`read_particles`, :func:`write_particles`, :class:`ParticleData`;
docs/formats-particles.md), the run-file converter :func:`runfile_to_particles`, and
:func:`write_outputs` (parameter TOML, JSON report, PNG plots).
"""

from .convert import runfile_to_particles  # noqa: F401
from .particles import ParticleData, ParticleFileError, read_particles, write_particles  # noqa: F401
from .pipeline import FitInputError, FitOptions, FitResult, fit  # noqa: F401

__all__ = [
    "fit",
    "FitOptions",
    "FitResult",
    "FitInputError",
    "ParticleData",
    "ParticleFileError",
    "read_particles",
    "write_particles",
    "runfile_to_particles",
    "write_outputs",
]


def write_outputs(*args, **kwargs):
    """See :func:`trsp_fit.report.write_outputs` (imported lazily: matplotlib)."""
    from .report import write_outputs as w

    return w(*args, **kwargs)
