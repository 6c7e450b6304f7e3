"""Sweeps: configuration errors, a tiny end-to-end sweep on an in-process Dask cluster, the
sweep-file schema (netCDF4-style dimension scales), resume after a crash, failures, seeds,
and the figures.  Deterministic (fixed seeds); no statistical assertions.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")

from trsp_obs import sweep as sw  # noqa: E402
from trsp_obs.heterogeneity import StackedStats, overlap_and_chi4  # noqa: E402
from trsp_ref.params import ParameterError  # noqa: E402

TINY = """
[sweep]
name = "tiny"
params = "ka_illustrative"
temperatures = [0.55, 0.70]
replicas = 2
seed = 7
tolerance = 1e-3
overrides = { lattice = { L = 6 } }

[run]
t_max = [200.0, 60.0]
n_lags = 9
n_origins = 32
spatial_origins = 4

[[variants]]
name = "plaquette f=1"

[[variants]]
name = "site"
shape = "site"
t_max_scale = 0.5

[aging]
T_initial = 0.8
T_final = [0.6]
replicas = 2
t_min = 0.5
t_max = 100.0
n_times = 5
trap_sites = 300

[analysis]
n_bootstrap = 10
"""


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client

    c = Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0")
    yield c
    c.close()


def _write(tmp: Path, text: str = TINY, name: str = "tiny.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, client):
    tmp = tmp_path_factory.mktemp("sweep")
    cfg = _write(tmp)
    out = tmp / "tiny.h5"
    summary = sw.run_sweep(cfg, out, client=client, progress=False)
    return cfg, out, summary


def _nan_equal(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def test_sweep_file_schema_and_combined_values(tiny_run):
    cfg, out, summary = tiny_run
    assert summary["members_done"] == summary["members_total"] == 2 * 2 * 2
    assert summary["aging_members_done"] == 2 * 2 and summary["failed"] == []
    with h5py.File(out, "r") as h5:
        assert h5.attrs["format"] == "trsp-sweep" and h5.attrs["format_version"] == "1.2"
        assert int(h5.attrs["illustrative"]) == 1
        assert (h5.attrs["kick_tolerance"], h5.attrs["precision_tolerance"], h5.attrs["tolerance"]) == (1e-3, 1e-3, 1e-3)
        # every variable's axes are attached to dimension scales named like netCDF4 dimensions
        for name, ds in h5.items():
            if not isinstance(ds, h5py.Dataset) or ds.is_scale:
                continue
            for axis in range(ds.ndim):
                scales = list(ds.dims[axis].keys())
                assert len(scales) == 1, (name, axis)
        assert [d.label or list(d.keys())[0] for d in h5["chi4"].dims] == ["variant", "temperature", "lag"]
        assert list(h5["variant"].asstr()[()]) == ["plaquette f=1", "site"]
        assert np.all(h5["member_done"][()] == 1)
        assert np.allclose(h5["t_max"][()], [[200.0, 60.0], [100.0, 30.0]])  # site: t_max_scale 0.5
        # the combined chi_4 is the estimator applied to the stored members
        for v in range(2):
            for i in range(2):
                st = StackedStats(
                    h5["lag_time"][v, i], h5["n_origins"][v, i], h5["member_q_mean"][v, i], h5["member_q_sq_mean"][v, i],
                    h5["member_shell_power"][v, i], h5["member_block_var"][v, i], h5["block"][()], 216, 3, 6, 1.1,
                )  # fmt: skip
                Q, chi4 = overlap_and_chi4(st)
                assert np.allclose(h5["Q"][v, i], Q) and np.allclose(h5["chi4"][v, i], chi4)
        # format 1.1: the softness memory is the estimator applied to the stored members
        for v in range(2):
            for i in range(2):
                css = h5["member_css_product"][v, i].mean(axis=0) / h5["css_variance"][v, i]
                assert np.allclose(h5["C_SS"][v, i], css) and np.all(h5["C_SS_err"][v, i] >= 0)
                assert 0.8 < h5["css_equal_time"][v, i] < 1.2
                assert h5["tau_S_resolved"][v, i] == np.isfinite(h5["tau_S"][v, i])
        assert h5["aging/S_mean"].shape == (2, 1, 5)
        assert list(h5["aging/model"].asstr()[()]) == ["plaquette f=1", "trap model"]
        assert np.all(np.isfinite(h5["aging/S_mean"][()]))


def test_sweep_file_opens_with_xarray(tiny_run):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    _, out, _ = tiny_run
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["chi4"].dims == ("variant", "temperature", "lag")
    assert list(ds["variant"].values) == ["plaquette f=1", "site"]
    ag = xr.open_dataset(out, engine="h5netcdf", group="aging")
    assert ag["S_mean"].dims == ("model", "T_final", "time")


def test_resume_skips_finished_members_and_reproduces_the_uninterrupted_run(tmp_path, tiny_run, client):
    # a "crash" after 3 members: the store holds them; --resume runs only the rest, and every
    # member is bit-identical to the uninterrupted sweep (streams depend only on spawn keys)
    cfg = _write(tmp_path)
    out = tmp_path / "resumed.h5"
    conf = sw.load_sweep_config(cfg)
    store = sw.MemberStore(out.with_name(out.name + ".members"))
    store.open(conf, resume=False)
    specs = sw.member_specs(conf)
    sw.execute(specs[:3], store, scheduler=None, progress=False, n_workers=1, client=client)
    summary = sw.run_sweep(cfg, out, client=client, progress=False, resume=True)
    assert summary["skipped"] == 3 and summary["ran"] == len(specs) - 3
    _, ref, _ = tiny_run
    with h5py.File(out, "r") as a, h5py.File(ref, "r") as b:
        for name in ("member_q_mean", "member_q_sq_mean", "member_shell_power", "member_block_var", "member_n_events", "chi4"):
            assert _nan_equal(a[name][()], b[name][()]), name
        assert _nan_equal(a["aging/member_S_mean"][()], b["aging/member_S_mean"][()])


def test_existing_output_and_changed_config_are_refused(tmp_path, tiny_run, client):
    cfg, out, _ = tiny_run
    with pytest.raises(ParameterError, match="'--out'"):
        sw.run_sweep(cfg, out, client=client, progress=False)
    changed = _write(tmp_path, TINY.replace("seed = 7", "seed = 8"))
    with pytest.raises(ParameterError, match="'config'"):
        sw.run_sweep(changed, out, client=client, progress=False, resume=True)


def test_a_failed_member_is_reported_and_resume_finishes_it(tmp_path, client, monkeypatch):
    text = TINY.split("[aging]")[0] + "[analysis]\nn_bootstrap = 0\n"
    text = text.replace('[[variants]]\nname = "site"\nshape = "site"\nt_max_scale = 0.5\n', "")
    cfg = _write(tmp_path, text)
    out = tmp_path / "fail.h5"
    from trsp_obs.sweep import members

    real = members.run_member

    def flaky(spec):
        if spec.id == "eq-v0-T1-r1":
            raise RuntimeError("worker lost")
        return real(spec)

    monkeypatch.setattr(members, "run_member", flaky)
    with pytest.raises(sw.SweepError, match="1 of 4 members failed"):
        sw.run_sweep(cfg, out, client=client, progress=False)
    with h5py.File(out, "r") as h5:
        assert h5["member_done"][0, 1, 1] == 0 and h5["member_done"][()].sum() == 3
        assert np.all(np.isnan(h5["member_q_mean"][0, 1, 1]))
    monkeypatch.setattr(members, "run_member", real)
    summary = sw.run_sweep(cfg, out, client=client, progress=False, resume=True)
    assert summary["ran"] == 1 and summary["members_done"] == 4


def test_member_streams_are_spawned_children_of_one_seed_sequence():
    conf = sw.sweep_config_from_dict(sw.tomllib.loads(TINY))
    specs = sw.member_specs(conf)
    states = {s.id: sw.member_rng(s).bit_generator.state["state"]["state"] for s in specs}
    assert len(set(states.values())) == len(specs)  # all streams distinct
    spec = next(s for s in specs if s.id == "eq-v1-T0-r1")
    root = np.random.SeedSequence(7)
    child = root.spawn(1)[0].spawn(2)[1].spawn(1)[0].spawn(2)[1]  # spawn keys (0, 1, 0, 1)
    assert np.array_equal(child.generate_state(4), np.random.SeedSequence(7, spawn_key=tuple(spec.spawn_key)).generate_state(4))


@pytest.mark.parametrize(
    "edit, parameter",
    [
        (lambda t: t.replace("replicas = 2\nseed", "replicas = 1\nseed"), "sweep.replicas"),
        (lambda t: t.replace('params = "ka_illustrative"', 'params = "nope"'), "sweep.params"),
        (lambda t: t.replace("t_max = [200.0, 60.0]", "t_max = [200.0]"), "run.t_max"),
        (lambda t: t.replace("t_max = [200.0, 60.0]\n", ""), "run.t_max"),
        (lambda t: t.replace("n_lags = 9", "n_lags = 9\nbogus = 1"), "run.bogus"),
        (lambda t: t.replace('shape = "site"', 'shape = "hexagon"'), "variants[1].cluster.shape"),
        (lambda t: t.replace("temperatures = [0.55, 0.70]", "temperatures = [0.55, -0.70]"), "sweep.temperatures"),
        (lambda t: t.replace('name = "site"', 'name = "plaquette f=1"'), "variants"),
        (lambda t: t.replace("T_final = [0.6]", "T_final = [0.6]\nvariants = [\"x\"]"), "aging.variants"),
        (lambda t: t.replace('shape = "site"', "lattice = { L = 8 }"), "variants"),
        (lambda t: t.replace("t_max_scale = 0.5", "t_max_scale = 0"), "variants[1].t_max_scale"),
        (lambda t: t.replace("overrides = { lattice = { L = 6 } }", "overrides = { softness = { C1 = \"a\" } }"), "softness.C1"),
        (lambda t: t.replace("tolerance = 1e-3", "tolerance = 1e-3\nprecision_tolerance = -1.0"), "sweep.precision_tolerance"),
    ],
    ids=[
        "one replica", "unknown preset", "t_max per temperature missing", "no t_max", "unknown run key",
        "variant with unknown shape", "negative temperature", "duplicate variant name", "aging names no variant",
        "variant with another lattice", "zero t_max_scale", "base override of wrong type", "negative precision tolerance",
    ],
)
def test_bad_sweep_files_raise_parameter_errors_naming_the_key(tmp_path, edit, parameter):
    with pytest.raises(ParameterError) as info:
        sw.load_sweep_config(_write(tmp_path, edit(TINY)))
    assert info.value.parameter == parameter


def test_sweep_tolerances(tmp_path):
    """tolerance sets both parts, kick_tolerance / precision_tolerance one each; no key: trsp_fast's default."""
    from trsp_fast.model import DEFAULT_TOLERANCE

    assert sw.load_sweep_config(_write(tmp_path, TINY)).tolerance == (1e-3, 1e-3)
    two = TINY.replace("tolerance = 1e-3", "tolerance = 1e-3\nkick_tolerance = 3e-5")
    assert sw.load_sweep_config(_write(tmp_path, two)).tolerance == (3e-5, 1e-3)
    assert sw.load_sweep_config(_write(tmp_path, TINY.replace("tolerance = 1e-3\n", ""))).tolerance == tuple(DEFAULT_TOLERANCE)
    assert sw.load_sweep_config(_write(tmp_path, TINY.replace("tolerance = 1e-3", "tolerance = 0"))).tolerance is None


def test_params_file_without_temperature_sweeps_its_one_temperature_only(tmp_path):
    """A set without [temperature] (trsp fit at one T) is that temperature's: its rates and <S> as
    given, one listed T; two temperatures or aging quenches are refused (issue 19)."""
    from trsp_obs.presets import preset_params
    from trsp_ref.params import dumps_toml, params_from_dict

    p = preset_params("ka_illustrative", 0.55)
    d = tomllib.loads(dumps_toml(p))
    fixed = {k: v for k, v in d.items() if k != "temperature"}
    fixed["softness"]["mean"] = -0.8
    fixed["rates"].update(A=0.01, gamma=1.5, delta=0.1)
    (tmp_path / "p.toml").write_text(dumps_toml(params_from_dict(fixed)))
    with pytest.raises(ParameterError) as info:
        sw.load_sweep_config(_write(tmp_path, TINY.replace('"ka_illustrative"', '"p.toml"')))
    assert info.value.parameter == "sweep.temperatures"
    one = TINY.replace('"ka_illustrative"', '"p.toml"').replace("[0.55, 0.70]", "[0.55]").replace("[200.0, 60.0]", "200.0")
    with pytest.raises(ParameterError) as info:
        sw.load_sweep_config(_write(tmp_path, one))
    assert info.value.parameter == "aging"
    cfg = sw.load_sweep_config(_write(tmp_path, one[: one.index("[aging]")]))
    q = cfg.params(0, 0.55)
    assert q.temperature is None and (q.rates.A, q.rates.gamma, q.rates.delta, q.softness.mean) == (0.01, 1.5, 0.1, -0.8)


def test_plot_writes_the_figures(tiny_run, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from trsp_cli.plot_cmd import run_plot
    from trsp_obs import plots

    _, out, _ = tiny_run
    figures = {}  # name -> (x label, y label, titles, number of bands) per axes
    real_save = plots._save

    def keep(fig, path):
        figures[path.name] = [(ax.get_xlabel(), ax.get_ylabel(), ax.get_title("left") + ax.get_title(), len(ax.collections)) for ax in fig.axes]
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    paths = run_plot(out, tmp_path / "figs")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        ["fig4_overlap_chi4.png", "fig5_tau_chi4_xi4.png", "fig6_xi4_vs_inverse_T.png", "fig_s4_oz.png",
         "fig14_block_collapse.png", "fig12_cluster_size.png", "fig8_aging.png", "fig_softness_memory.png"]
    )  # fmt: skip
    for p in paths:
        assert p.stat().st_size > 5000 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="sweep_file"):
        run_plot(_write(tmp_path, "x", "not.h5"), tmp_path / "figs")
    # units on t, tau_chi and T; Q(t) with an error band like chi_4's; the ILLUSTRATIVE label;
    # fig8's panels from (a)
    unit = plots.TIME_UNIT
    q_axis, chi4_axis = figures["fig4_overlap_chi4.png"]
    assert unit in q_axis[0] and unit in chi4_axis[0]
    assert q_axis[3] >= 1 and chi4_axis[3] >= 1
    tau_axis = figures["fig5_tau_chi4_xi4.png"][0]
    assert unit in tau_axis[1] and "epsilon" in tau_axis[0]
    assert all("epsilon" in ax[0] for ax in figures["fig12_cluster_size.png"])
    assert "ILLUSTRATIVE" in figures["fig6_xi4_vs_inverse_T.png"][0][2]
    aging = figures["fig8_aging.png"]
    assert [ax[2][:3] for ax in aging] == ["(a)", "(b)"] and unit in aging[0][0]


def test_summary_keeps_the_observables_and_plots_like_the_sweep_file(tiny_run, tmp_path):
    pytest.importorskip("matplotlib")
    from trsp_cli.plot_cmd import run_plot
    from trsp_obs import summaries

    _, out, _ = tiny_run
    res = tmp_path / "results"
    res.mkdir()
    info = summaries.summarize(out, res / "tiny.h5")
    assert info["bytes"] < info["source_bytes"]
    with h5py.File(out, "r") as a, h5py.File(res / "tiny.h5", "r") as b:
        assert b.attrs["format"] == "trsp-summary" and b.attrs["source_format_version"] == "1.2"
        kept = [k for k in a if k not in summaries.DROPPED]
        assert sorted(b) == sorted(kept) and not set(summaries.DROPPED) & set(b)
        for k in kept:
            if isinstance(a[k], h5py.Dataset):
                assert _nan_equal(a[k][()], b[k][()]) if a[k].dtype.kind != "O" else np.array_equal(a[k][()], b[k][()])
                assert [list(d.keys()) for d in a[k].dims] == [list(d.keys()) for d in b[k].dims], k
        assert _nan_equal(a["aging/S_mean"][()], b["aging/S_mean"][()])
    with pytest.raises(ParameterError, match="already exists"):
        summaries.summarize(out, res / "tiny.h5")
    with pytest.raises(ParameterError, match="already a summary"):
        summaries.summarize(res / "tiny.h5", tmp_path / "again.h5")
    # the folder form: every figure the manifest lists, from the summaries alone
    (res / "figures.toml").write_text(
        '[[figure]]\nsummary = "tiny.h5"\nonly = ["fig4", "memory", "fig8"]\n'
        '[[figure]]\nsummary = "tiny.h5"\nonly = ["fig8"]\nprefix = "again_"\n'
    )
    paths = run_plot(res, tmp_path / "figs")
    assert sorted(p.name for p in paths) == ["again_fig8_aging.png", "fig4_overlap_chi4.png", "fig8_aging.png", "fig_softness_memory.png"]
    assert all(p.exists() for p in paths)
    (res / "figures.toml").write_text('[[figure]]\nsummary = "tiny.h5"\nonly = ["fig99"]\n')
    with pytest.raises(ParameterError, match="only"):
        run_plot(res, tmp_path / "figs")


def test_unusable_outputs_are_refused_before_any_work(tmp_path):
    # each class of unusable output path is one ParameterError naming --out, before any member runs
    cfg = _write(tmp_path)
    (tmp_path / "a_file").write_text("")
    for out in (tmp_path / "missing" / "x.h5", tmp_path / "a_file" / "x.h5", tmp_path):
        with pytest.raises(ParameterError) as info:
            sw.run_sweep(cfg, out, progress=False)
        assert info.value.parameter == "--out", out
    (tmp_path / "y.h5.members").write_text("")  # where the members would be kept
    with pytest.raises(ParameterError, match="not a folder"):
        sw.run_sweep(cfg, tmp_path / "y.h5", progress=False)


@pytest.mark.parametrize("content", [b"\x89HDF\r\n\x1a\n\x00\x00", b""], ids=["binary", "empty"])
def test_unreadable_sweep_files_are_one_error_naming_the_file(tmp_path, content):
    path = tmp_path / "sweep.toml"
    path.write_bytes(content)
    with pytest.raises(ParameterError) as info:
        sw.load_sweep_config(path)
    assert str(path) in str(info.value) or info.value.parameter.startswith("<sweep")
