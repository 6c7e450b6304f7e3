"""The committed conformance catalog (tests/conformance/) still matches the oracle.

Each NAME.toml is recomputed with trsp_ref.conformance.reference_vectors and compared with
the committed NAME.json (integers and strings exactly, floats to rtol 1e-10 / atol 1e-12).
A failure means the oracle's numbers changed.  If that change is intended, regenerate the
catalog with ``python3 tests/conformance/make_catalog.py`` and say why in the commit.

Also: the JSON has exactly the documented keys (docs/formats-conformance.md names every
one), the canonical-draw events replay on the oracle from the recorded draws alone, and
the CLI writer produces the committed bytes, and trsp_fast, an independent implementation,
passes the catalog by the recipe of docs/formats-conformance.md (what another implementation does).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from trsp_cli.reference_cmd import run_reference
from trsp_ref import conformance
from trsp_ref.conformance import (
    BARE_KEYS,
    CLUSTER_KEYS,
    DRAWS_KEYS,
    EVENT_KEYS,
    OBSERVED_KEYS,
    TOP_LEVEL_KEYS,
    dumps_vectors,
    reference_vectors,
)
from trsp_ref.dynamics import ReplayStream, gillespie
from trsp_ref.model import ReferenceModel
from trsp_ref.params import ParameterError, Params, load_params, params_from_dict, params_to_dict

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "tests" / "conformance"
DOC = ROOT / "docs" / "formats-conformance.md"
RTOL, ATOL = 1e-10, 1e-12
REGENERATE = (
    "the oracle's conformance vectors changed; if this change is intended, regenerate the catalog with "
    "`python3 tests/conformance/make_catalog.py` and explain the change in the commit"
)

SETS = sorted(path.stem for path in CATALOG.glob("*.toml"))


def _load(name: str) -> tuple[Params, dict]:
    p = load_params(CATALOG / f"{name}.toml")
    with open(CATALOG / f"{name}.json", encoding="utf-8") as f:
        return p, json.load(f)


def _compare(expected, actual, where: str) -> None:
    """Recursive comparison: same structure and keys, ints/strings/bools exact, floats to RTOL/ATOL."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a table"
        assert list(expected) == list(actual), f"{where}: keys differ {list(expected)} vs {list(actual)}; {REGENERATE}"
        for key in expected:
            _compare(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{where}: length differs; {REGENERATE}"
        if expected and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in expected) and any(
            isinstance(x, float) for x in expected
        ):
            e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
            bad = ~np.isclose(a, e, rtol=RTOL, atol=ATOL)
            assert not bad.any(), (
                f"{where}: {int(bad.sum())} entries differ (worst |diff| {np.max(np.abs(a - e)):.3g}); {REGENERATE}"
            )
        else:
            for k, (x, y) in enumerate(zip(expected, actual)):
                _compare(x, y, f"{where}[{k}]")
    elif isinstance(expected, float):
        assert isinstance(actual, (int, float)), f"{where}: expected a number"
        assert math.isclose(actual, expected, rel_tol=RTOL, abs_tol=ATOL), (
            f"{where}: {actual!r} != committed {expected!r}; {REGENERATE}"
        )
    else:  # int, str, bool
        assert actual == expected and type(actual) is type(expected), (
            f"{where}: {actual!r} != committed {expected!r}; {REGENERATE}"
        )


def test_catalog_is_complete():
    """At least 10 sets, each with its vectors; 2D and 3D, every shape, several L, [temperature], f != 1."""
    assert len(SETS) >= 10
    params = []
    for name in SETS:
        assert (CATALOG / f"{name}.json").is_file(), f"{name}.json missing: run tests/conformance/make_catalog.py"
        params.append(load_params(CATALOG / f"{name}.toml"))
    assert {p.lattice.dim for p in params} == {2, 3}
    assert {p.cluster.shape for p in params} == {"site", "dimer", "plaquette"}
    assert len({p.lattice.L for p in params}) >= 3
    assert any(p.temperature is not None for p in params)
    assert any(p.kick.facilitation != 1.0 for p in params)
    assert max(p.N for p in params) <= 64
    assert set(json.loads((CATALOG / f"{SETS[0]}.json").read_text())) == set(TOP_LEVEL_KEYS)


@pytest.mark.parametrize("name", SETS)
def test_vectors_match_committed(name):
    p, expected = _load(name)
    actual = json.loads(dumps_vectors(reference_vectors(p)))  # through JSON, as the files are
    _compare(expected, actual, name)


@pytest.mark.parametrize("name", SETS)
def test_canonical_events_replay_from_recorded_draws(name):
    """The committed events follow from the committed S0, u1, u2, zeta alone (no random stream involved):
    this holds even if numpy's Generator streams ever change."""
    p, expected = _load(name)
    draws = expected["canonical_draws"]
    events = draws["events"]
    model = ReferenceModel(p)
    stream = ReplayStream(
        [e["u1"] for e in events], [e["u2"] for e in events], [e["zeta"] for e in events]
    )
    traj = gillespie(model, np.array(draws["S0"]), stream, n_events=len(events), record_states=True)
    assert [int(k) for k in traj.clusters] == [e["cluster_id"] for e in events], REGENERATE
    np.testing.assert_allclose(traj.waits, [e["dt"] for e in events], rtol=RTOL, atol=ATOL, err_msg=REGENERATE)
    np.testing.assert_allclose(
        traj.states_after, [e["S_after"] for e in events], rtol=RTOL, atol=ATOL, err_msg=REGENERATE
    )
    np.testing.assert_allclose(model.cluster_rates(np.array(draws["S0"])), draws["rates_S0"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", SETS)
def test_fast_implementation_passes_the_catalog(name):
    """trsp_fast (windows covering the lattice) against the committed vectors, steps 3 and 4 of the
    recipe in docs/formats-conformance.md: per-cluster operators, rates at S0, and every canonical
    event from its recorded draws (each event starts from the committed state before it)."""
    from trsp_fast import FastModel

    p, expected = _load(name)
    fm = FastModel(p, tolerance=None)
    for entry in expected["clusters"]:
        dk = fm.dense_kick(entry["cluster_id"])
        assert sorted(int(i) for i in dk.sites) == sorted(entry["sites"])
        for ours, key in ((dk.mu_prime, "mu_prime"), (dk.K_Delta, "K_Delta"), (dk.noise_factor, "K_Delta_sqrt"), (dk.H, "H")):
            np.testing.assert_allclose(ours, entry[key], rtol=RTOL, atol=ATOL, err_msg=f"{name}: {key}")
    draws = expected["canonical_draws"]
    S = np.array(draws["S0"])
    np.testing.assert_allclose(fm.cluster_rates(S), draws["rates_S0"], rtol=RTOL, atol=ATOL)
    for e in draws["events"]:
        k, dt = fm.choose_event(S, e["u1"], e["u2"])
        assert k == e["cluster_id"]
        np.testing.assert_allclose(dt, e["dt"], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(fm.apply_kick(S, k, np.array(e["zeta"])), e["S_after"], rtol=RTOL, atol=ATOL)
        S = np.array(e["S_after"])


@pytest.mark.parametrize("name", SETS)
def test_keys_are_the_documented_schema(name):
    _, v = _load(name)
    assert tuple(v) == TOP_LEVEL_KEYS
    assert tuple(v["observed"]) == OBSERVED_KEYS and tuple(v["bare"]) == BARE_KEYS
    assert v["format_version"] == conformance.FORMAT_VERSION
    N, m = v["N"], v["m"]
    assert len(v["clusters"]) == v["n_orientations"] and v["n_clusters"] == v["n_orientations"] * N
    assert np.shape(v["K"]) == (N, N)
    for orientation, cl in enumerate(v["clusters"]):
        assert tuple(cl) == CLUSTER_KEYS
        assert cl["orientation"] == orientation and cl["cluster_id"] == orientation * N
        assert len(cl["sites"]) == m and cl["sites"][0] == 0  # the cluster anchored at site 0
        assert np.shape(cl["rt"]) == np.shape(cl["mu_prime"]) == (N,)
        for key in ("K_prime", "K_Delta", "K_Delta_sqrt", "H"):
            assert np.shape(cl[key]) == (N, N), key
    draws = v["canonical_draws"]
    assert tuple(draws) == DRAWS_KEYS
    assert len(draws["events"]) == draws["n_events"] and np.shape(draws["S0"]) == (N,)
    assert np.shape(draws["rates_S0"]) == (v["n_clusters"],)
    for event in draws["events"]:
        assert tuple(event) == EVENT_KEYS
        assert np.shape(event["zeta"]) == np.shape(event["S_after"]) == (N,)
        assert 0 <= event["cluster_id"] < v["n_clusters"] and event["dt"] > 0
    assert params_from_dict(v["params"]) == load_params(CATALOG / f"{name}.toml")


def test_document_names_every_key():
    """docs/formats-conformance.md mentions every key of the schema (as `key`), and no stale one."""
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", text))
    schema = set(TOP_LEVEL_KEYS + OBSERVED_KEYS + BARE_KEYS + CLUSTER_KEYS + DRAWS_KEYS + EVENT_KEYS)
    missing = schema - documented
    assert not missing, f"docs/formats-conformance.md does not document {sorted(missing)}"
    # every key listed in the document's key tables is a real key
    table_keys = set(re.findall(r"^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`", text, flags=re.M))
    stale = table_keys - schema
    assert not stale, f"docs/formats-conformance.md documents keys that do not exist: {sorted(stale)}"


def test_cli_writer_reproduces_committed_file(tmp_path):
    """run_reference (what `trsp reference` calls) writes exactly the committed bytes (same machine, same oracle)."""
    name = "2d_plaquette_L3"
    out = tmp_path / "v.json"
    run_reference(CATALOG / f"{name}.toml", out)
    _compare(json.loads((CATALOG / f"{name}.json").read_text()), json.loads(out.read_text()), name)
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"


def test_run_reference_defaults_and_atomicity(tmp_path, monkeypatch):
    import trsp_cli.reference_cmd as cmd

    # None means the built-in defaults; the (slow, N = 216) vectors themselves are stubbed out
    seen = []
    monkeypatch.setattr(cmd, "reference_vectors", lambda p: seen.append(p) or {"params": params_to_dict(p)})
    out = tmp_path / "default.json"
    out.write_text("old contents")
    with pytest.raises(ParameterError, match="already exists: pass --force"):
        cmd.run_reference(None, out)  # an existing file is never replaced silently
    assert seen == [] and out.read_text() == "old contents"
    cmd.run_reference(None, out, force=True)
    assert seen == [Params()]
    v = json.loads(out.read_text())
    assert v["params"] == params_to_dict(Params())
    # a failing run leaves the previous file untouched and no temporary file
    monkeypatch.undo()
    bad = tmp_path / "bad.toml"
    bad.write_text("[softness]\nC1 = 5.0\n")
    with pytest.raises(ParameterError) as err:
        run_reference(bad, out, force=True)
    assert err.value.parameter == "softness.C1"
    assert json.loads(out.read_text()) == v
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "default.json"]


def test_unwritable_output_is_a_parameter_error(tmp_path):
    # checked before computing anything: a missing folder, a file as folder, a folder as target
    (tmp_path / "a_file").write_text("")
    for out in (tmp_path / "no_such_folder" / "x.json", tmp_path / "a_file" / "x.json", tmp_path):
        with pytest.raises(ParameterError) as err:
            run_reference(None, out)
        assert err.value.parameter == "--out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_dumps_vectors_is_plain_exact_json():
    v = {"a": [[0.1, 1e-300], [2.0, -3.5]], "b": [{"x": 1}], "c": 0.30000000000000004, "d": []}
    assert json.loads(dumps_vectors(v)) == v
    with pytest.raises(ValueError):
        dumps_vectors({"x": float("nan")})


def test_comparison_catches_a_drift():
    """The mutant: one matrix entry moved by 1e-9 relative, or a different fired cluster, must fail."""
    p, expected = _load("2d_dimer_L4")
    drifted = json.loads(json.dumps(expected))
    drifted["clusters"][1]["H"][3][4] *= 1.0 + 1e-9
    with pytest.raises(AssertionError, match="make_catalog.py"):
        _compare(expected, drifted, "2d_dimer_L4")
    drifted = json.loads(json.dumps(expected))
    drifted["canonical_draws"]["events"][0]["cluster_id"] += 1
    with pytest.raises(AssertionError, match="make_catalog.py"):
        _compare(expected, drifted, "2d_dimer_L4")


def test_trsp_reference_command(tmp_path):
    """`trsp reference PARAMS.toml --out FILE.json` writes the vectors; a bad file exits 2 with one line."""
    from typer.testing import CliRunner

    from trsp_cli.main import app

    name = "2d_plaquette_L3"
    out = tmp_path / "v.json"
    result = CliRunner().invoke(app, ["reference", str(CATALOG / f"{name}.toml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    _compare(json.loads((CATALOG / f"{name}.json").read_text()), json.loads(out.read_text()), name)
    bad = tmp_path / "bad.toml"
    bad.write_text("[kick]\nsigma0 = -1.0\n")
    result = CliRunner().invoke(app, ["reference", str(bad), "--out", str(tmp_path / "w.json")])
    assert result.exit_code == 2 and "kick.sigma0" in result.output
    assert not (tmp_path / "w.json").exists()
