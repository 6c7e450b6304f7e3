"""Paired sweeps and paired comparisons (trsp_obs.paired): the shared initial field is the same
bit for bit across variants, unpaired sweeps keep their streams, bad pairings are refused, the
paired bootstrap cancels a common replica effect exactly, and the power formulas invert each
other.  Deterministic (fixed seeds); the end-to-end part is a tiny sweep on L = 6."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")

from trsp_obs import sweep as sw  # noqa: E402
from trsp_obs.paired import compare, load_ensemble, replicas_needed, resolvable_effect, size_difference  # noqa: E402
from trsp_obs.runs import field_digest  # noqa: E402
from trsp_obs.sweep.members import _model, initial_field_rng, run_member  # noqa: E402
from trsp_ref.params import ParameterError  # noqa: E402

PAIRED = """
[sweep]
name = "tiny paired"
params = "ka_illustrative"
temperatures = [0.60]
replicas = 3
seed = 11
tolerance = 1e-3
paired = true
overrides = { lattice = { L = 6 } }

[run]
t_max = 120.0
n_lags = 9
n_origins = 32
spatial_origins = 4

[[variants]]
name = "f=1"

[[variants]]
name = "f=0.2"
facilitation = 0.2

[[variants]]
name = "wide f=1"
kick = { sigma1 = 1.5 }

[analysis]
n_bootstrap = 10
"""


def _cfg(tmp: Path, text: str = PAIRED, name: str = "paired.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


#: the end-to-end sweep: two variants, no spatial statistics (the OZ and block fits of an L = 6
#: box are slow and meaningless; the comparison machinery is the same for every observable)
PAIRED_RUN = PAIRED.replace('[[variants]]\nname = "wide f=1"\nkick = { sigma1 = 1.5 }\n', "").replace(
    "spatial_origins = 4", "spatial_origins = 0"
)


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory):
    import shutil

    import h5py
    from dask.distributed import Client

    tmp = tmp_path_factory.mktemp("paired")
    c = Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0")
    try:
        out = tmp / "paired.h5"
        sw.run_sweep(_cfg(tmp, PAIRED_RUN), out, client=c, progress=False)
    finally:
        c.close()
    # a second file to pool: the same members under another seed attribute (pooling only
    # checks that the files are compatible and their seeds distinct)
    other = tmp / "paired_other_seed.h5"
    shutil.copy(out, other)
    with h5py.File(other, "r+") as h5:
        h5.attrs["seed"] = 12
    return [out, other]


def test_paired_members_start_from_the_same_field_bit_for_bit(tmp_path):
    conf = sw.load_sweep_config(_cfg(tmp_path))
    specs = [s for s in sw.member_specs(conf) if s.kind == sw.KIND_EQUILIBRIUM]
    fields = {}
    for s in specs:
        model = _model(s.params_toml, s.tolerance)
        fields[s.id] = model.sample_equilibrium(initial_field_rng(s))
    for r in range(3):
        f0 = fields[f"eq-v0-T0-r{r}"]
        for v in (1, 2):
            assert np.array_equal(fields[f"eq-v{v}-T0-r{r}"], f0)  # bit for bit
    assert not np.array_equal(fields["eq-v0-T0-r0"], fields["eq-v0-T0-r1"])
    # the dynamics streams stay the members' own
    states = {s.id: sw.member_rng(s).bit_generator.state["state"]["state"] for s in specs}
    assert len(set(states.values())) == len(specs)
    # and a finished member reports the fingerprint of that field
    res = run_member(next(s for s in specs if s.id == "eq-v1-T0-r2"))
    assert res.initial_digest == field_digest(fields["eq-v0-T0-r2"])


def test_unpaired_members_keep_their_streams(tmp_path):
    conf = sw.load_sweep_config(_cfg(tmp_path, PAIRED.replace("paired = true\n", "")))
    assert not conf.paired
    spec = next(s for s in sw.member_specs(conf) if s.id == "eq-v1-T0-r0")
    assert spec.initial_key is None and initial_field_rng(spec) is None
    # the initial field is the first draw of the member's own stream, as before pairing existed
    res = run_member(spec)
    model = _model(spec.params_toml, spec.tolerance)
    assert res.initial_digest == field_digest(model.sample_equilibrium(sw.member_rng(spec)))


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("facilitation = 0.2", "softness = { xi = 0.7 }"),
        lambda t: t.replace("facilitation = 0.2", "temperature = { mean_a = 0.6 }"),
    ],
    ids=["another softness covariance", "another mean softness"],
)
def test_pairing_variants_with_different_static_fields_is_refused(tmp_path, edit):
    with pytest.raises(ParameterError) as info:
        sw.load_sweep_config(_cfg(tmp_path, edit(PAIRED)))
    assert info.value.parameter == "sweep.paired"


def test_paired_sweep_file_records_the_pairing_and_compares(paired_run):
    import h5py

    with h5py.File(paired_run[0], "r") as h5:
        assert int(h5.attrs["paired"]) == 1
        d = h5["member_initial_digest"].asstr()[()]
        assert d.shape == (2, 1, 3) and np.all(d == d[0:1]) and len(set(d[0, 0])) == 3
    ens = load_ensemble(paired_run)  # two seeds pooled: 6 pairs
    rng = np.random.Generator(np.random.PCG64(1))
    c = compare(ens, "f=0.2", "f=1", 0.60, rng=rng, n_bootstrap=20)
    assert c.n_pairs == 6 and c.paired and c.initial_fields_identical is True
    assert math.isfinite(c.ratio["chi4_star"]) and c.se_log["chi4_star"] > 0
    assert -1 <= c.q_correlation <= 1
    # a variant against itself: the paired bootstrap cancels everything, the unpaired one does not
    same = compare(ens, "f=1", "f=1", 0.60, rng=rng, n_bootstrap=20)
    assert same.ratio["chi4_star"] == 1.0 and same.se_log["chi4_star"] == 0.0 and same.se_log_unpaired["chi4_star"] > 0
    with pytest.raises(ParameterError) as info:
        load_ensemble([paired_run[0], paired_run[0]])
    assert info.value.parameter == "sweep files"
    with pytest.raises(ParameterError):
        compare(ens, "nope", "f=1", 0.60, rng=rng)


def test_paired_cli_writes_json(paired_run, tmp_path):
    from trsp_cli.main import main

    out = tmp_path / "cmp.json"
    code = main(["paired", str(paired_run[0]), "--compare", "f=0.2|f=1", "--n-bootstrap", "20", "--json", str(out)])
    assert code == 0
    d = json.loads(out.read_text())
    assert d["format"] == "trsp-paired" and len(d["comparisons"]) == 1
    row = d["comparisons"][0]
    assert row["variant_a"] == "f=0.2" and row["initial_fields_identical"] is True
    assert set(row["power"]) == {"tau_chi", "chi4_star", "xi4_oz", "xi4_block"}
    assert main(["paired", str(paired_run[0]), "--compare", "f=0.2"]) == 2  # bad spec: one line, exit 2


def test_power_formulas():
    # se 0.1 with 10 pairs: 20% at 3 se needs 10 (3 * 0.1 / ln 1.2)^2 = 27.1 -> 28 pairs
    assert replicas_needed(0.1, 10) == 28
    assert resolvable_effect(0.1, 10, 28) <= 0.2 < resolvable_effect(0.1, 10, 27)
    assert resolvable_effect(0.1, 10) == pytest.approx(math.expm1(0.3))
    with pytest.raises(ParameterError):
        replicas_needed(0.0, 10)


def test_size_difference_adds_errors_in_quadrature():
    from trsp_obs.paired import PairedComparison

    c1 = PairedComparison(0.5, "a", "b", 10, True, True, 0.5, ratio={"x": 1.0}, se_log={"x": 0.03})
    c2 = PairedComparison(0.5, "a", "b", 10, True, True, 0.5, ratio={"x": math.exp(0.1)}, se_log={"x": 0.04})
    d, se, z = size_difference(c1, c2, "x")
    assert d == pytest.approx(0.1) and se == pytest.approx(0.05) and z == pytest.approx(2.0)
