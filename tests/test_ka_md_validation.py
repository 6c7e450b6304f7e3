"""The Kob-Andersen comparison of docs/results/ka_md_validation.py: unit conversion of published
values, the 10 % verdict, and the refusal of uncited numbers (docs/results/ka_md_published.toml)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


@pytest.fixture(scope="module")
def v():
    spec = importlib.util.spec_from_file_location("ka_md_validation", RESULTS / "ka_md_validation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def entry(**kw):
    e = dict(quantity="D_A", T=1.0, value=1.0, time_unit_in_tau=1.0, source="A. Author, J. 1, 1 (2000)",
             location="Table I", url="https://example.org", passage="D = 1.0")
    e.update(kw)
    return e


ROW = {"T": 1.0, "D_A": 0.0104, "tau_alpha_Fs_q7.25": 1.2, "g_AA_first_peak_r": 1.04, "g_AA_first_peak_height": 3.4}


def by_quantity(comparisons):
    return {c["quantity"]: c for c in comparisons}


def test_time_unit_converts_diffusion_down_and_times_up(v):
    u = 1 / math.sqrt(48)  # a paper whose time unit is (m sigma^2 / 48 eps)^(1/2)
    pub = [entry(quantity="D_A", value=0.0104 * u, time_unit_in_tau=u),       # D in that unit = D_LJ * u
           entry(quantity="tau_alpha_Fs_q7.25", value=1.2 / u, time_unit_in_tau=u),  # times = t_LJ / u
           entry(quantity="g_AA_first_peak_r", value=1.04, time_unit_in_tau=u)]
    c = by_quantity(v.compare([ROW], pub))
    for q in ("D_A", "tau_alpha_Fs_q7.25", "g_AA_first_peak_r"):
        assert c[q]["ratio"] == pytest.approx(1.0, rel=1e-12), q
        assert c[q]["verdict"].startswith("within")
    assert c["g_AA_first_peak_height"]["verdict"].startswith("not assessed")


@pytest.mark.parametrize("ratio, word", [(1.09, "within"), (0.91, "within"), (1.11, "misses"), (0.85, "misses")])
def test_verdict_at_ten_percent(v, ratio, word):
    c = by_quantity(v.compare([ROW], [entry(value=ROW["D_A"] / ratio)]))["D_A"]
    assert c["ratio"] == pytest.approx(ratio)
    assert c["verdict"].startswith(word)


def test_published_value_without_a_run_is_reported_not_dropped(v):
    c = v.compare([ROW], [entry(T=0.466)])
    assert any(x["T"] == 0.466 and "no run" in x["verdict"] for x in c)


@pytest.mark.parametrize("bad, words", [
    (dict(passage=""), "value[0].passage"),
    (dict(source=None), "value[0].source"),
    (dict(quantity="D_B"), "value[0].quantity"),
    (dict(value=-1.0), "value[0].value"),
    (dict(value=float("nan")), "value[0].value"),
    (dict(time_unit_in_tau=0), "value[0].time_unit_in_tau"),
])
def test_uncited_or_bad_entries_are_refused(v, tmp_path, bad, words):
    e = entry(**bad)
    lines = ["[[value]]"] + [f"{k} = {json.dumps(x)}" for k, x in e.items() if x is not None]
    p = tmp_path / "pub.toml"
    p.write_text("\n".join(lines).replace("NaN", "nan") + "\n")
    with pytest.raises(v.PublishedError, match=words.replace("[", r"\[").replace("]", r"\]")):
        v.load_published(p)


def test_committed_published_file_and_summary_agree(v):
    pub = v.load_published(RESULTS / "ka_md_published.toml")
    assert pub["searched"], "the search log is part of the record"
    summary = json.loads((RESULTS / "ka_md_validation.json").read_text())
    assert summary["published"]["values"] == len(pub["values"])
    assessed = [c for c in summary["comparison"] if c.get("published") is not None]
    assert len(assessed) == len(pub["values"])


def test_standard_error(v):
    assert v.mean_and_error([2.0]) == (2.0, None)
    m, se = v.mean_and_error([1.0, 2.0, 3.0])
    assert m == 2.0 and se == pytest.approx(1.0 / math.sqrt(3))
