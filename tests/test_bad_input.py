"""Bad input: every violated condition raises ParameterError naming the parameter and the condition.

One test per condition (docs/model.md), the Hypothesis families of ``strategies.invalid_params``,
a fuzz test that no parameter set produces a NaN instead of an error, and every example file.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from strategies import invalid_params, params_dict
from trsp_ref.model import MAX_DENSE_SITES, ReferenceModel, validate
from trsp_ref.params import Params, ParameterError, Rates, Softness, load_params, params_from_dict

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


def error_of(d) -> ParameterError:
    """The ParameterError that building and validating the parameter dict ``d`` raises."""
    with pytest.raises(ParameterError) as err:
        validate(params_from_dict(d))
    return err.value


def assert_error(d, parameter, *words):
    err = error_of(d)
    assert err.parameter == parameter, str(err)
    for w in words:
        assert w in str(err), f"{w!r} not in {err}"
    assert "Traceback" not in str(err)
    return err


# -------------------------------------------------------------------- lattice-level


def test_K_not_positive_definite():
    err = assert_error(params_dict(softness={"C1": 5.0, "xi": 1.5}), "softness.C1", "not positive definite", "smallest eigenvalue")
    assert "reduce" in err.condition


def test_rho_not_positive_definite():
    err = assert_error(params_dict(kick={"rho1": 5.0, "xi_rho": 1.5}), "kick.rho1", "not positive definite", "rho")
    assert "reduce" in err.condition


@pytest.mark.parametrize("shape", ["site", "dimer", "plaquette"])
def test_kick_eigenvalue_at_least_one(shape):
    err = assert_error(params_dict(kick={"sigma0": 1.2}, cluster={"shape": shape}), "kick", "eigenvalue", ">= 1")
    assert "kick.sigma0" in err.condition and "kick.facilitation" in err.condition
    largest = float(err.condition.split("largest ")[1].split(")")[0])
    assert largest >= 1.0


def test_facilitation_rescues_a_too_large_kick():
    # (a 2D lattice: the eigenvalue condition is the same, the dense oracle 10x faster)
    d = params_dict(kick={"sigma0": 1.2}, lattice={"dim": 2, "L": 6})
    error_of(d)
    d["kick"]["facilitation"] = 0.3
    validate(params_from_dict(d))


@pytest.mark.parametrize("shape", ["dimer", "plaquette"])
def test_renormalization_without_solution(shape):
    assert_error(params_dict(rates={"delta": 2.0}, cluster={"shape": shape}), "rates.delta", "no solution", "c^2 - 2c(1-c)")


def test_observed_rate_growing_faster_than_the_gaussian():
    assert_error(params_dict(rates={"delta": -0.6}), "rates.delta", "1 + 2 delta variance")


def test_bare_law_with_no_observed_counterpart():
    # c ~ 0.40, v = c(1-c) ~ 0.24: 1 + 2 delta0 v <= 0 for delta0 < -2.1
    assert_error(params_dict(rates={"level": "bare", "delta": -3.0, "gamma": 0.0}), "rates.delta", "no solution")


def test_conditioning_not_normalizable():
    # bare level, dimer (c ~ 0.61): 1 + 2 delta0 c(1-c) > 0 but 1 + 2 delta0 w^T K w <= 0
    err = assert_error(
        params_dict(rates={"level": "bare", "delta": -1.0, "gamma": 0.0}, cluster={"shape": "dimer"}),
        "rates.delta",
        "1 + 2 delta0 w^T K w",
    )
    assert "increase rates.delta" in err.condition


def test_rates_overflow():
    assert_error(params_dict(rates={"gamma": 80.0, "delta": 0.0}, cluster={"shape": "site"}), "rates.gamma", "overflow")
    assert_error(
        # far from the origin a negative delta0 dominates: 0.2 * (50 + 10)^2 = 720
        params_dict(rates={"level": "bare", "gamma": 0.0, "delta": -0.2}, softness={"mean": -50.0}, cluster={"shape": "site"}),
        "rates.delta",
        "overflow",
    )


def test_rates_underflow():
    assert_error(params_dict(rates={"A": 1e-305}), "rates.A", "out of floating-point range")


def test_temperature_rate_errors_name_the_temperature_key():
    d = params_dict()
    del d["softness"]["mean"]
    for k in ("A", "gamma", "delta"):
        del d["rates"][k]
    d["temperature"] = dict(T=0.2, T0=0.74, eps0=1.5, eps1=-0.8, eps2=1.0, Sigma0=0.0, mean_a=0.5, mean_b=-0.3)
    err = assert_error(d, "temperature.eps2", "no solution", "supplied by [temperature]")
    d["temperature"].update(eps2=0.0, eps0=200.0)
    assert_error(d, "temperature.eps0", "out of floating-point range")


def test_lattice_too_large_for_the_dense_oracle():
    assert_error(params_dict(lattice={"dim": 3, "L": 17}), "lattice.L", str(MAX_DENSE_SITES))


def test_radii_of_the_truncated_model():
    p = Params().replace(lattice={"dim": 2, "L": 4})
    for name, kw in (("kick_radius", {"kick_radius": -1.0}), ("precision_radius", {"precision_radius": 0.0}),
                     ("kick_radius", {"kick_radius": math.nan})):  # fmt: skip
        with pytest.raises(ParameterError) as err:
            ReferenceModel(p, **kw)
        assert err.value.parameter == name


# ------------------------------------------------------------------------ scalar


@pytest.mark.parametrize(
    "section,key,value",
    [
        ("lattice", "spacing", 0.0),
        ("lattice", "spacing", -1.0),
        ("softness", "xi", 0.0),
        ("softness", "variance", 0.0),
        ("softness", "variance", -2.0),
        ("rates", "duration", 0.0),
        ("rates", "A", 0.0),
        ("kick", "xi_sigma", 0.0),
        ("kick", "xi_rho", -1.0),
    ],
)
def test_non_positive_lengths_variance_duration(section, key, value):
    assert_error(params_dict(**{section: {key: value}}), f"{section}.{key}", "> 0")


@pytest.mark.parametrize("key", ["sigma0", "sigma1", "facilitation"])
def test_negative_kick_amplitudes(key):
    assert_error(params_dict(kick={key: -0.1}), f"kick.{key}", ">= 0")


@pytest.mark.parametrize("L", [0, 1, -3])
def test_non_positive_L(L):
    assert_error(params_dict(lattice={"L": L}, cluster={"shape": "site"}), "lattice.L", ">= 2")


@pytest.mark.parametrize("shape", ["dimer", "plaquette"])
def test_cluster_that_does_not_fit(shape):
    assert_error(params_dict(lattice={"L": 2}, cluster={"shape": shape}), "lattice.L", "does not fit", "L >= 3")


def test_bad_dim_and_shape():
    assert_error(params_dict(lattice={"dim": 4}), "lattice.dim", "2 or 3")
    assert_error(params_dict(cluster={"shape": "triangle"}), "cluster.shape", "plaquette")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("section,key", [("softness", "mean"), ("rates", "gamma"), ("kick", "rho1"), ("softness", "C1")])
def test_nan_and_inf(section, key, value):
    assert_error(params_dict(**{section: {key: value}}), f"{section}.{key}", "finite")


def test_nan_in_a_directly_built_params_is_caught_by_the_model():
    for p, name in (
        (Params(softness=Softness(mean=math.nan)), "softness.mean"),
        (Params(rates=Rates(gamma=math.inf)), "rates.gamma"),
        (Params(softness=Softness(mean=None)), "softness.mean"),
    ):
        with pytest.raises(ParameterError) as err:
            ReferenceModel(p)
        assert err.value.parameter == name


def test_unknown_keys_and_sections():
    assert_error(params_dict(kick={"sigma2": 0.1}), "kick.sigma2", "unknown key")
    with pytest.raises(ParameterError) as err:
        params_from_dict({**params_dict(), "kicks": {"sigma0": 0.1}})
    assert err.value.parameter == "kicks" and "unknown section" in str(err.value)


@pytest.mark.parametrize(
    "section,key,value,words",
    [
        ("lattice", "L", "6", "integer"),
        ("lattice", "L", 6.5, "integer"),
        ("softness", "variance", "1.0", "number"),
        ("rates", "gamma", [1.0], "number"),
        ("kick", "facilitation", True, "number"),
        ("cluster", "shape", 4, "string"),
    ],
    ids=["L string", "L fraction", "variance string", "gamma list", "facilitation bool", "shape number"],
)
def test_wrong_types(section, key, value, words):
    assert_error(params_dict(**{section: {key: value}}), f"{section}.{key}", words)


@pytest.mark.parametrize("section,key", [("softness", "mean"), ("rates", "A"), ("rates", "gamma"), ("rates", "delta")])
def test_temperature_plus_supplied_key(section, key):
    d = params_dict()
    d["temperature"] = dict(T=0.5, T0=0.74, eps0=1.5, eps1=-0.8, eps2=0.05, Sigma0=0.0, mean_a=0.5, mean_b=-0.75)
    for s, k in (("softness", "mean"), ("rates", "A"), ("rates", "gamma"), ("rates", "delta")):
        if (s, k) != (section, key):
            d[s].pop(k)
    assert_error(d, f"{section}.{key}", "supplied by [temperature]")


def test_non_positive_temperature():
    d = params_dict()
    del d["softness"]["mean"]
    for k in ("A", "gamma", "delta"):
        del d["rates"][k]
    d["temperature"] = dict(T=0.0, T0=0.74, eps0=1.5, eps1=-0.8, eps2=0.05, Sigma0=0.0, mean_a=0.5, mean_b=-0.75)
    assert_error(d, "temperature.T", "> 0")


# --------------------------------------------------------------------- families


@given(case=invalid_params())
def test_invalid_parameter_families(case):
    d, expected = case
    assert error_of(d).parameter == expected


@st.composite
def wild_params(draw):
    """Parameter files well outside sensible ranges (but finite, and passing the scalar checks):
    each must either build a model with finite operators or raise ParameterError -- never a
    NaN, never another exception.  Ranges are wide but centred so that both outcomes occur."""
    pos = st.floats(1e-3, 1e2)
    dim = draw(st.sampled_from([2, 3]))
    variance = draw(pos)
    sd = math.sqrt(variance)
    return params_dict(
        lattice={"dim": dim, "L": draw(st.integers(3, 5 if dim == 2 else 4)), "spacing": draw(pos)},
        softness={"mean": draw(st.floats(-100, 100)), "variance": variance,
                  "C1": variance * draw(st.floats(-2, 2)), "xi": draw(pos)},  # fmt: skip
        rates={"level": draw(st.sampled_from(["observed", "bare"])), "A": draw(st.floats(1e-300, 1e300)),
               "gamma": draw(st.floats(-50, 50)) / sd, "delta": draw(st.floats(-3, 3)) / variance,
               "duration": draw(pos)},  # fmt: skip
        kick={"sigma0": sd * draw(st.floats(0, 3)), "sigma1": sd * draw(st.floats(0, 3)), "xi_sigma": draw(pos),
              "rho1": draw(st.floats(-1.5, 1.5)), "xi_rho": draw(pos), "facilitation": draw(st.floats(0, 10))},  # fmt: skip
        cluster={"shape": draw(st.sampled_from(["site", "dimer", "plaquette"]))},
    )


@given(d=wild_params(), seed=st.integers(0, 2**32 - 1))
def test_no_nan_ever_escapes(d, seed):
    try:
        model = ReferenceModel(params_from_dict(d))
    except ParameterError as err:
        assert err.parameter and err.condition
        return
    assert all(math.isfinite(x) for x in (*model.rates.observed, *model.rates.bare, model.c))
    ops = model.kick_operators(0)
    for a in ops:
        assert np.all(np.isfinite(a))
    rng = np.random.default_rng(seed)
    S = model.sample_equilibrium(rng)
    cluster, dt = model.choose_event(S, rng.random(), rng.random())
    assert np.all(np.isfinite(model.apply_kick(S, cluster, rng.standard_normal(model.N))))
    assert dt > 0


# ---------------------------------------------------------------------- examples


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    for required in ("default_3d_plaquette.toml", "2d_site.toml", "2d_dimer.toml", "3d_dimer.toml",
                     "temperature_3d.toml", "facilitation_0.6.toml"):  # fmt: skip
        assert required in names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_builds_a_reference_model(path):
    p = load_params(path)
    if p.lattice.L > 8:  # a paper-size example (ka_measured.toml: L = 20) is checked on L = 8 (a cheap dense oracle)
        p = dataclasses.replace(p, lattice=dataclasses.replace(p.lattice, L=8))
    model = ReferenceModel(p)
    assert np.all(np.isfinite(model.kick_operators(0).H))


def test_default_example_is_the_built_in_default():
    assert load_params(EXAMPLES[0].parent / "default_3d_plaquette.toml") == Params()


# ------------------------------------------------- the command line: every class of bad input
#
# Each class is one line on stderr naming the item and the condition, exit status 2, no
# traceback, nothing lost (docs: README "Exit status").  In-process through trsp_cli.main.main
# where possible (fast); in a subprocess where the process itself is the point (file-size
# limits, the note printed for defaulted sections).

import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from trsp_cli.main import main as trsp_main  # noqa: E402
from trsp_fast.run_job import simulate_to_file  # noqa: E402
from trsp_runfile.runfile import RunFile  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL = "[lattice]\ndim = 2\nL = 8\n\n[softness]\n\n[rates]\n\n[kick]\n\n[cluster]\nshape = \"dimer\"\n"


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def cli(capsys, *args) -> tuple[int, str]:
    """Run ``trsp ARGS`` in-process: (exit status, stderr)."""
    code = trsp_main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def assert_one_line(code: int, err: str, *words) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("trsp: error:"), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--time", "nan"], ["--time", "finite"]),
        (["--time", "inf"], ["--time", "finite"]),
        (["--time", "-1"], ["--time", ">= 0"]),
        (["--events", "abc"], ["--events", "integer"]),
        (["--events", "0"], ["--events", ">= 1"]),
        (["--events", "5", "--snapshot-every", "nan"], ["--snapshot-every"]),
        (["--events", "5", "--checkpoint-every", "0"], ["--checkpoint-every"]),
        (["--events", "5", "--tolerance", "-1"], ["--tolerance"]),
        (["--events", "5", "--kick-tolerance", "-1"], ["--kick-tolerance"]),
        (["--events", "5", "--precision-tolerance", "nan"], ["--precision-tolerance"]),
        (["--events", "5", "--mode", "heavy"], ["--mode"]),
        (["--events", "5", "--bogus"], ["--bogus"]),
    ],
    ids=["time nan", "time inf", "time negative", "events not a number", "events zero", "snapshot nan",
         "checkpoint zero", "tolerance negative", "kick tolerance negative", "precision tolerance nan", "unknown mode",
         "unknown option"],
)
def test_bad_simulate_options(tmp_path, capsys, args, words):
    out = tmp_path / "x.h5"
    assert_one_line(*cli(capsys, "simulate", "--out", out, *args), *words)
    assert not out.exists()


def test_usage_errors_of_every_command_are_one_line(capsys):
    for args in (["nosuch"], ["sweep"], ["verify", "--replicas", "many"], ["reference", "--bogus"]):
        assert_one_line(*cli(capsys, *args))


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ["is empty", "no file"]),
        (b"\x89HDF\r\n\x1a\n\x00\x00\x00", ["not a text file"]),
        (b"\xff\xfe[\x00l\x00", ["not a text file"]),
        (b"[lattice\nL = 3", ["not valid TOML"]),
        (b"# only a comment\n", ["is empty"]),
    ],
    ids=["empty", "binary HDF5", "UTF-16", "invalid TOML", "comment only"],
)
def test_unusable_parameter_files(tmp_path, capsys, content, words):
    path = tmp_path / "p.toml"
    path.write_bytes(content)
    with pytest.raises(ParameterError) as err:
        load_params(path)
    assert err.value.parameter == str(path)
    for command in (["simulate", path, "--out", tmp_path / "x.h5", "--events", "5"], ["reference", path, "--out", tmp_path / "x.json"]):
        assert_one_line(*cli(capsys, *command), str(path), *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


def test_a_folder_or_missing_file_as_parameter_file(tmp_path, capsys):
    assert_one_line(*cli(capsys, "simulate", tmp_path, "--out", tmp_path / "x.h5", "--events", "5"), "is a folder")
    assert_one_line(*cli(capsys, "simulate", tmp_path / "nope.toml", "--out", tmp_path / "x.h5", "--events", "5"), "cannot read")


def test_missing_sections_are_named_in_one_note(tmp_path, capsys):
    import warnings

    from trsp_cli.main import _notes_in_one_line
    from trsp_ref.params import DefaultedSections

    path = tmp_path / "partial.toml"
    path.write_text("[lattice]\ndim = 2\nL = 4\n[cluster]\nshape = \"site\"\n")
    with pytest.warns(DefaultedSections) as record:
        load_params(path)
    assert len(record) == 1 and "[softness], [rates], [kick] not given" in str(record[0].message)
    # the command line prints it as one line
    saved = warnings.showwarning
    try:
        _notes_in_one_line()
        warnings.showwarning(record[0].message, DefaultedSections, "params.py", 1)
    finally:
        warnings.showwarning = saved
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"trsp: note: {path}: [softness], [rates], [kick] not given")


@pytest.mark.parametrize(
    "make_out, words",
    [
        (lambda d: d / "missing" / "x.h5", ["does not exist"]),
        (lambda d: d / "a_file" / "x.h5", ["not a folder"]),
        (lambda d: d, ["is a folder"]),
    ],
    ids=["missing folder", "file as folder", "folder as file"],
)
def test_unusable_outputs(tmp_path, capsys, make_out, words):
    (tmp_path / "a_file").write_text("")
    out = make_out(tmp_path)
    assert_one_line(*cli(capsys, "simulate", "--out", out, "--events", "5"), "--out", *words)
    assert_one_line(*cli(capsys, "reference", "--out", out), "--out")
    assert_one_line(*cli(capsys, "plot", tmp_path / "a_file", "--outdir", tmp_path / "a_file"), "--outdir", "not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_permission_denied_is_named(tmp_path, monkeypatch):
    # (the suite may run as root, for whom every folder is writable: simulate the refusal)
    from trsp_runfile.atomic import unwritable_reason

    monkeypatch.setattr("os.access", lambda path, mode: False)
    assert "permission denied" in unwritable_reason(tmp_path / "x.json")
    assert "permission denied" in unwritable_reason(tmp_path / "figs", folder=True)


def test_reference_refuses_to_overwrite_before_computing(tmp_path, capsys):
    out = tmp_path / "v.json"
    out.write_text("precious")
    assert_one_line(*cli(capsys, "reference", "--out", out), "already exists", "--force")
    assert out.read_text() == "precious"


def test_out_of_memory_is_one_line(capsys, monkeypatch):
    from trsp_cli import main as cli_main

    def greedy(*args, **kwargs):
        raise MemoryError

    with pytest.raises(Exception) as info:
        cli_main._guarded(greedy)
    assert getattr(info.value, "exit_code", None) == 2
    assert "out of memory" in capsys.readouterr().err


def test_any_file_system_error_is_one_line(tmp_path, capsys):
    # the class behind every unwritable or unreadable path a job meets late (a folder removed
    # while it runs, a permission changed): one line naming the path, exit status 2
    from trsp_cli import main as cli_main

    with pytest.raises(Exception) as info:
        cli_main._guarded(open, tmp_path / "gone" / "x.txt", "w")
    assert getattr(info.value, "exit_code", None) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "gone" / "x.txt") in err and "No such file" in err


@pytest.mark.parametrize("dim, L", [(3, 1000), (2, 100_000)], ids=["3D L=1000", "2D L=1e5"])
def test_lattice_too_large_for_memory_is_refused_before_allocating(tmp_path, capsys, dim, L):
    path = tmp_path / "big.toml"
    path.write_text(SMALL.replace("dim = 2\nL = 8", f"dim = {dim}\nL = {L}"))
    assert_one_line(*cli(capsys, "simulate", path, "--out", tmp_path / "x.h5", "--events", "5"), "lattice.L", "memory")
    assert not (tmp_path / "x.h5").exists()


def test_snapshots_that_cannot_fit_are_refused(tmp_path, capsys, small):
    out = tmp_path / "x.h5"
    code, err = cli(capsys, "simulate", small, "--out", out, "--events", "100000", "--snapshot-every", "1e-9", "--no-progress")
    assert_one_line(code, err, "--snapshot-every", "snapshots", "free")
    assert not out.exists()


def test_snapshots_reach_the_writer_in_bounded_batches(monkeypatch):
    # memory stays bounded however short the interval: the taker hands batches to the writer
    import trsp_fast.run_job as job

    monkeypatch.setattr(job, "SNAPSHOT_BATCH_BYTES", 10 * 8 * 4)  # 10 states of 4 sites
    batches = []
    taker = job.SnapshotTaker(1e-3, 0.0, 0, 4, lambda t, S: batches.append(S.shape[0]))

    class Chunk:
        times = np.array([0.5, 1.0])
        change_offsets = np.array([0, 1, 2])
        change_sites = np.array([0, 1])
        after = np.array([1.0, 2.0])

    taker.take(np.zeros(4), Chunk, None)
    assert sum(batches) == 1000 and max(batches) == 10  # t = 0, 0.001, ..., 0.999


def test_a_short_snapshot_interval_that_fits_runs(tmp_path, small):
    # the room check bounds the snapshots of a block by the time left: a time-limited run
    # with many snapshots that do fit is not stopped
    out = tmp_path / "x.h5"
    simulate_to_file(small, out, time=1.0, snapshot_every=2e-4, seed=1, progress=False)
    run = RunFile.open(out)
    assert run.checkpoint.status == "finished" and run.snapshots.time.shape == (5001,)


def _run_limited(args: list[str], limit: int, code: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "trsp_cli.main", *args] if code is None else [sys.executable, "-c", code, *args]
    return subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY)),
    )  # fmt: skip


def _assert_clean_stop_and_resume(proc, out, tmp_path, small, seed):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot write" in lines[0] and "--resume" in lines[0], proc.stderr
    run = RunFile.open(out)
    run.check()  # the last checkpoint is intact and replays
    assert run.checkpoint.status != "finished" and run.n_events % 500 == 0
    simulate_to_file(None, out, resume=True, progress=False)  # room again: finish it
    ref = tmp_path / "ref.h5"
    simulate_to_file(small, ref, events=3000, seed=seed, checkpoint_every=500, progress=False)
    a, b = RunFile.open(out), RunFile.open(ref)
    assert a.checkpoint.status == "finished"
    assert a.events.times.tobytes() == b.events.times.tobytes() and a.checkpoint.S.tobytes() == b.checkpoint.S.tobytes()
    return run.n_events


def test_full_disk_stops_at_a_checkpoint_and_resumes(tmp_path, small):
    """A file-size limit (``ulimit -f``; a full disk behaves the same): exit 2 in one line, the
    run file intact at its last checkpoint, and --resume finishes it bit for bit."""
    out = tmp_path / "run.h5"
    args = ["simulate", str(small), "--out", str(out), "--events", "3000", "--seed", "5", "--checkpoint-every", "500", "--no-progress"]
    held = _assert_clean_stop_and_resume(_run_limited(args, 6_000_000), out, tmp_path, small, 5)
    assert held > 0


def test_a_failed_hdf5_write_exits_2_without_crashing(tmp_path, small):
    """The guard off: libhdf5 itself meets the full disk.  It used to crash (exit 139) while
    releasing the failed file; now it is the same one line, exit 2, file intact."""
    out = tmp_path / "run.h5"
    code = (
        "import sys, trsp_fast.run_job as job\n"
        "job._room_check = lambda *a, **k: (lambda *block: None)\n"
        "from trsp_cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = ["simulate", str(small), "--out", str(out), "--events", "20000", "--seed", "6", "--checkpoint-every", "500", "--no-progress"]
    proc = _run_limited(args, 3_000_000, code)
    assert proc.returncode == 2, proc.stderr  # not 139
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot write (File too large)" in lines[0], proc.stderr
    RunFile.open(out).check()  # intact at its last checkpoint (resuming is shown above)


def test_resume_of_a_mistyped_path_and_retargeting_are_refused(tmp_path, capsys, small):
    out = tmp_path / "run.h5"
    assert_one_line(*cli(capsys, "simulate", small, "--out", tmp_path / "rnu.h5", "--resume", "--no-progress"), "does not exist")
    assert not (tmp_path / "rnu.h5").exists()
    # an unfinished 1000-event run keeps its target
    simulate_to_file(small, out, events=1000, seed=2, checkpoint_every=100, progress=False)
    simulate_to_file(small, tmp_path / "part.h5", events=300, seed=2, checkpoint_every=100, progress=False)
    run = RunFile.open(out)
    assert run.n_events == 1000
    with pytest.raises(ParameterError) as err:  # a finished run cannot be shortened
        simulate_to_file(None, out, events=500, resume=True, progress=False)
    assert err.value.parameter == "--events" and "cannot be shortened" in str(err.value)
    with pytest.raises(ParameterError) as err:
        simulate_to_file(None, out, time=run.checkpoint.time / 2, resume=True, progress=False)
    assert err.value.parameter == "--time"
    assert RunFile.open(out).n_events == 1000


def test_unfinished_runs_keep_their_target(tmp_path, small, monkeypatch):
    import trsp_fast.run_job as job

    out = tmp_path / "run.h5"
    calls = []
    real = job._drive

    def interrupted(sim, writer, *args):
        # stop the first run after its first checkpoint, as a crash would
        if not calls:
            calls.append(1)
            args = list(args)
            args[4] = 200  # target_events for the loop only: the file keeps 1000
            real(sim, writer, *args)
            writer.commit(*_state(sim), status="interrupted", target_events=1000)
            return
        real(sim, writer, *args)

    def _state(sim):
        st = sim.get_state()
        return st["S"], st["time"], st["n_events"], st["time_compensation"], st["rng_state"]

    monkeypatch.setattr(job, "_drive", interrupted)
    simulate_to_file(small, out, events=1000, seed=2, checkpoint_every=100, progress=False)
    assert RunFile.open(out).checkpoint.target_events == 1000 and RunFile.open(out).checkpoint.status == "interrupted"
    with pytest.raises(ParameterError) as err:
        simulate_to_file(None, out, events=500, resume=True, progress=False)
    assert err.value.parameter == "--events" and "target of the unfinished run" in str(err.value)
    simulate_to_file(None, out, resume=True, progress=False)
    assert RunFile.open(out).n_events == 1000


@pytest.mark.parametrize(
    "rates, name",
    [({"A": 1e305}, "rates.A"), ({"gamma": 80.0, "delta": 0.0}, "rates.gamma")],
    ids=["A overflow", "gamma overflow"],
)
def test_rate_overflow_names_the_term_that_overflows(rates, name):
    from trsp_ref.params import check_rate_range

    p = params_from_dict(params_dict(rates=rates, cluster={"shape": "site"}))
    with pytest.raises(ParameterError) as err:
        check_rate_range(p, (p.rates.A, p.rates.gamma, p.rates.delta), p.softness.mean, p.N)
    assert err.value.parameter == name


def test_simulator_does_not_blame_delta_for_a_large_A_or_gamma(tmp_path, capsys):
    for rates in ("A = 1e100", "gamma = 300.0"):
        path = tmp_path / "p.toml"
        path.write_text(SMALL.replace("[rates]\n", f"[rates]\n{rates}\n"))
        code, err = cli(capsys, "simulate", path, "--out", tmp_path / "x.h5", "--events", "5")
        assert_one_line(code, err)
        assert "'rates.delta'" not in err, err
