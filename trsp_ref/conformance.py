"""Conformance vectors: the oracle's numbers for one parameter set, as a JSON-able dict.

Another implementation of the TRSP model (ours in trsp_fast, or anyone's) checks itself
against these: the rate law in both forms (Eqs. 20-23, corrected), K (Eq. 29), and for the
first cluster of each orientation the conditioned mean and covariance (Eqs. 24-26,
derived), the kick covariance (Eq. 30), its square root and the drift matrix (Eq. 19);
plus a few events of the canonical draws (docs/model.md) from a fixed seed, so that its
dynamics can be compared number for number.  The format is documented in
docs/formats-conformance.md; the ``*_KEYS`` tuples below are the schema that the tests
hold both the files and the document to.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .dynamics import gillespie
from .kick import nearest_cluster_distance
from .lattice import n_orientations
from .model import ReferenceModel
from .params import Params, params_to_dict

__all__ = [
    "FORMAT_VERSION",
    "CONFORMANCE_SEED",
    "CONFORMANCE_EVENTS",
    "TOP_LEVEL_KEYS",
    "OBSERVED_KEYS",
    "BARE_KEYS",
    "CLUSTER_KEYS",
    "DRAWS_KEYS",
    "EVENT_KEYS",
    "reference_vectors",
    "dumps_vectors",
]

#: bump when a key is added, removed or changes meaning
FORMAT_VERSION = 1
#: seed of numpy.random.default_rng for the canonical-draw vectors
CONFORMANCE_SEED = 20240611
#: number of events in the canonical-draw vectors
CONFORMANCE_EVENTS = 3

TOP_LEVEL_KEYS = (
    "format_version",
    "params",
    "N",
    "m",
    "z",
    "c",
    "n_orientations",
    "n_clusters",
    "mean",
    "duration",
    "observed",
    "bare",
    "K",
    "clusters",
    "canonical_draws",
)
OBSERVED_KEYS = ("A", "gamma", "delta")
BARE_KEYS = ("A0", "gamma0", "delta0")
CLUSTER_KEYS = (
    "orientation",
    "cluster_id",
    "sites",
    "rt",
    "mu_prime",
    "K_prime",
    "K_Delta",
    "K_Delta_sqrt",
    "H",
)
DRAWS_KEYS = ("seed", "n_events", "S0", "rates_S0", "events")
EVENT_KEYS = ("u1", "u2", "zeta", "cluster_id", "dt", "S_after")


def _floats(a) -> Any:
    """Nested lists of Python floats (json writes them with repr: exact round trip)."""
    return np.asarray(a, dtype=np.float64).tolist()


def reference_vectors(
    p: Params, *, seed: int = CONFORMANCE_SEED, n_events: int = CONFORMANCE_EVENTS
) -> dict[str, Any]:
    """The conformance vectors of ``p`` (docs/formats-conformance.md), computed by the dense oracle.

    Raises ParameterError (from building the :class:`ReferenceModel`) when ``p`` is invalid.
    The canonical-draw part: ``rng = numpy.random.default_rng(seed)``,
    ``S0 = model.sample_equilibrium(rng)`` (= mean + chol(K) rng.standard_normal(N)), then
    ``n_events`` events of :func:`trsp_ref.dynamics.gillespie` on the same ``rng`` (u1, u2,
    zeta per event, in that order).
    """
    model = ReferenceModel(p)
    A, gamma, delta = model.rates.observed
    A0, gamma0, delta0 = model.rates.bare
    n_orient = n_orientations(p.lattice.dim, p.cluster.shape)

    clusters = []
    for orientation in range(n_orient):
        cluster_id = orientation * model.N  # the cluster anchored at site 0
        ops = model.kick_operators(cluster_id)
        clusters.append(
            {
                "orientation": orientation,
                "cluster_id": cluster_id,
                "sites": [int(s) for s in ops.sites],
                "rt": _floats(nearest_cluster_distance(model.dist, ops.sites)),
                "mu_prime": _floats(ops.mu_prime),
                "K_prime": _floats(ops.K_prime),
                "K_Delta": _floats(ops.K_Delta),
                "K_Delta_sqrt": _floats(ops.noise_factor),
                "H": _floats(ops.H),
            }
        )

    rng = np.random.default_rng(seed)
    S0 = model.sample_equilibrium(rng)
    trajectory = gillespie(model, S0, rng, n_events=n_events, record_states=True, record_draws=True)
    events = [
        {
            "u1": float(trajectory.u1[k]),
            "u2": float(trajectory.u2[k]),
            "zeta": _floats(trajectory.zeta[k]),
            "cluster_id": int(trajectory.clusters[k]),
            "dt": float(trajectory.waits[k]),
            "S_after": _floats(trajectory.states_after[k]),
        }
        for k in range(trajectory.n_events)
    ]

    return {
        "format_version": FORMAT_VERSION,
        "params": params_to_dict(p),
        "N": int(model.N),
        "m": int(model.m),
        "z": int(model.z),
        "c": float(model.c),
        "n_orientations": int(n_orient),
        "n_clusters": int(model.n_clusters),
        "mean": float(model.mean),
        "duration": float(p.rates.duration),
        "observed": {"A": float(A), "gamma": float(gamma), "delta": float(delta)},
        "bare": {"A0": float(A0), "gamma0": float(gamma0), "delta0": float(delta0)},
        "K": _floats(model.K),
        "clusters": clusters,
        "canonical_draws": {
            "seed": int(seed),
            "n_events": int(n_events),
            "S0": _floats(S0),
            "rates_S0": _floats(model.cluster_rates(S0)),
            "events": events,
        },
    }


def dumps_vectors(vectors: dict[str, Any]) -> str:
    """JSON text of the vectors: one key per line, matrices one row per line, floats exact (repr).

    Plain JSON (any parser reads it); the layout only keeps files readable and diffs small.
    NaN and infinities are refused (ValueError): they are not JSON.
    """
    return _dump(vectors, 0) + "\n"


def _dump(obj: Any, level: int) -> str:
    pad, end = "  " * (level + 1), "  " * level
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(str(k))}: {_dump(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}" if items else "{}"
    if isinstance(obj, list) and obj and all(isinstance(x, (list, dict)) for x in obj):
        # a matrix (one row per line) or a list of records
        items = [pad + (_dump(x, level + 1) if isinstance(x, dict) else json.dumps(x, allow_nan=False)) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"
    return json.dumps(obj, allow_nan=False)
