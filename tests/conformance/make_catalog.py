"""Make the conformance catalog: the parameter sets below, each as NAME.toml plus its vectors NAME.json.

Run from anywhere:  python3 tests/conformance/make_catalog.py
It (re)writes every file of the catalog in this folder, and deletes nothing else.
The JSON files are what ``trsp reference NAME.toml --out NAME.json`` writes
(trsp_cli.reference_cmd.run_reference), format in docs/formats-conformance.md.
tests/test_conformance.py recomputes them and fails when the oracle's numbers drift;
rerun this script only when a change of the oracle is intended (and say why in the commit).

Every set is small (N <= 64) so that the dense oracle makes the whole catalog in seconds.
Together they cover: 2D and 3D; site, dimer and plaquette clusters; L = 3..6; both rate
levels; a non-unit spacing; negative delta; [temperature] below and at the onset;
facilitation 0, 0.4 and 0.6; sigma1 = 0 (kick confined to the cluster); a near-singular K_Delta.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root, when run as a script

from trsp_cli.reference_cmd import run_reference  # noqa: E402
from trsp_runfile.atomic import write_text_atomic  # noqa: E402
from trsp_ref.params import dumps_toml, params_from_dict  # noqa: E402

_KICK = {"sigma0": 0.6, "sigma1": 0.5, "xi_sigma": 1.0, "rho1": 0.3, "xi_rho": 1.0, "facilitation": 1.0}
_SOFTNESS = {"mean": -1.0, "variance": 1.0, "C1": 0.6, "xi": 1.0}
_RATES = {"level": "observed", "A": 0.05, "gamma": 1.0, "delta": 0.05, "duration": 4.0}
_TEMPERATURE = {
    "T": 0.5, "T0": 0.74, "eps0": 1.5, "eps1": -0.8, "eps2": 0.05, "Sigma0": 0.0, "mean_a": 0.5, "mean_b": -0.75,
}


def _set(dim, L, shape, *, spacing=1.0, softness=None, rates=None, kick=None, temperature=None):
    doc = {
        "lattice": {"dim": dim, "L": L, "spacing": spacing},
        "softness": {**_SOFTNESS, **(softness or {})},
        "rates": {**_RATES, **(rates or {})},
        "kick": {**_KICK, **(kick or {})},
        "cluster": {"shape": shape},
    }
    if temperature is not None:
        doc["temperature"] = {**_TEMPERATURE, **temperature}
        doc["softness"].pop("mean")
        for key in ("A", "gamma", "delta"):
            doc["rates"].pop(key)
    return doc


#: name -> (one-line description, parameter document)
CATALOG = {
    "2d_site_L4": ("single sites, the paper's default physics", _set(2, 4, "site")),
    "2d_site_L5_frozen": (
        "no kicks, uncorrelated field: the frozen limit of trsp_ref.limits",
        _set(2, 5, "site", softness={"C1": 0.0}, rates={"A": 0.3, "gamma": 1.5, "delta": 0.1}, kick={"facilitation": 0.0}),
    ),
    "2d_site_L6_short_kick": (
        "single sites, sD decaying by e^-10 per spacing (xi_sigma = 0.1): K_Delta near singular, so its "
        "root must come from a factor of K_Delta, not from K_Delta's eigenvalues (docs/formats-conformance.md)",
        _set(2, 6, "site", kick={"xi_sigma": 0.1}),
    ),
    "2d_dimer_L4": ("dimers, two orientations", _set(2, 4, "dimer")),
    "2d_dimer_L6_bare": (
        "dimers, rate law given at the bare level, spacing 1.1",
        _set(2, 6, "dimer", spacing=1.1, rates={"level": "bare", "A": 0.02, "gamma": 2.0, "delta": 0.3}),
    ),
    "2d_plaquette_L3": ("plaquettes on the smallest lattice they fit (periodic images close by)", _set(2, 3, "plaquette")),
    "2d_plaquette_L5_facilitation": (
        "plaquettes, weakened facilitation f = 0.4, negative delta",
        _set(2, 5, "plaquette", rates={"delta": -0.05}, kick={"facilitation": 0.4}),
    ),
    "2d_plaquette_L4_temperature": (
        "plaquettes, rate law and mean from [temperature] at T = 0.5 < T0",
        _set(2, 4, "plaquette", temperature={}),
    ),
    "3d_site_L4_onset": (
        "single sites in 3D, [temperature] at the onset T = T0 (rates independent of S)",
        _set(3, 4, "site", temperature={"T": 0.74}),
    ),
    "3d_site_L3_sigma1_zero": (
        "single sites in 3D, kick confined to the firing site (sigma1 = 0)",
        _set(3, 3, "site", kick={"sigma1": 0.0}),
    ),
    "3d_dimer_L3": ("dimers in 3D, three orientations, stronger correlations", _set(3, 3, "dimer", softness={"C1": 0.7, "xi": 1.3})),
    "3d_plaquette_L3": ("plaquettes in 3D (the paper's cluster), three orientations", _set(3, 3, "plaquette")),
    "3d_plaquette_L3_temperature_f06": (
        "3D plaquettes, [temperature] at T = 0.6 and facilitation 0.6",
        _set(3, 3, "plaquette", temperature={"T": 0.6}, kick={"facilitation": 0.6}),
    ),
}


def main() -> None:
    for name, (description, doc) in CATALOG.items():
        p = params_from_dict(doc)  # validates the scalar conditions before anything is written
        toml_path = HERE / f"{name}.toml"
        header = (
            f"# Conformance set '{name}': {description}.\n"
            "# Made by tests/conformance/make_catalog.py (edit there, then rerun it); vectors in the .json.\n\n"
        )
        write_text_atomic(toml_path, header + dumps_toml(p))
        run_reference(toml_path, HERE / f"{name}.json", force=True)
        print(f"wrote {name}.toml and {name}.json")


if __name__ == "__main__":
    main()
