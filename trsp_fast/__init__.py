"""trsp_fast: the fast local lattice simulator of TRSP models (docs/fast.md).

Public API: :class:`FastModel` (the model, windowed and translation invariant; canonical
draws ``choose_event`` / ``apply_kick``; ``sample_equilibrium``), :class:`Simulation` (the
event loop; ``run``, ``get_state``, ``from_state``) and :class:`EventChunk`.

Imported lazily, so that importing the package does not pay for Numba until a name is used.
"""

_MODEL_NAMES = (
    "FastModel", "Tolerance", "as_tolerance", "DEFAULT_TOLERANCE", "DEFAULT_KICK_TOLERANCE", "DEFAULT_PRECISION_TOLERANCE",
    "DEFAULT_SCHEME",
)  # fmt: skip
__all__ = [*_MODEL_NAMES, "Simulation", "EventChunk"]


def __getattr__(name):
    if name in _MODEL_NAMES:
        from . import model

        return getattr(model, name)
    if name in ("Simulation", "EventChunk"):
        from . import simulation

        return getattr(simulation, name)
    raise AttributeError(f"module 'trsp_fast' has no attribute {name!r}")
