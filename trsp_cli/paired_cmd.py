"""``trsp paired SWEEP.h5 [MORE.h5 ...] [--compare "A|B"] [--json OUT]``: paired variant comparisons.

Thin shell over :mod:`trsp_obs.paired`: for each comparison (variant A against variant B) and
temperature, the ratio A/B of tau_chi, chi_4*, xi_4 (OZ, blocks) with paired-bootstrap
standard errors, z and p, what the pairing bought (variance reduction, correlations), whether
the initial fields were identical, and the replicas a ratio of 1 + EFFECT needs to show at
SIGMAS standard errors.  Several files with distinct seeds are pooled.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["run_paired", "paired_summary"]


def paired_summary(
    sweep_files: list[Path], comparisons: list[str], *, n_bootstrap: int = 400, seed: int = 0, effect: float = 0.2, sigmas: float = 3.0
) -> dict:
    """The comparisons as a JSON-ready dict (what ``--json`` writes).  Every option is checked
    (and every file's schema, trsp_obs.results_schema) before any resampling."""
    import numpy as np

    from trsp_obs.paired import OBSERVABLES, compare, load_ensemble, replicas_needed, resolvable_effect
    from trsp_ref.params import ParameterError
    from trsp_runfile.resources import check_bootstrap_count

    check_bootstrap_count(n_bootstrap, "--n-bootstrap")
    if not (math.isfinite(effect) and effect > -1 and effect != 0):
        raise ParameterError("--effect", "must be a finite relative effect > -1 and != 0 (0.2 = a ratio of 1.2)", effect)
    if not (math.isfinite(sigmas) and sigmas > 0):
        raise ParameterError("--sigmas", "must be a finite number of standard errors > 0", sigmas)
    ens = load_ensemble(sweep_files)
    pairs = _comparisons(comparisons, ens.variants)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    rows = []
    for a, b in pairs:
        for T in ens.temperatures:
            c = compare(ens, a, b, float(T), rng=rng, n_bootstrap=n_bootstrap)
            d = c.to_dict()
            d["power"] = {}
            for k in OBSERVABLES:
                se = c.se_log[k]
                ok = se > 0 and math.isfinite(se)
                d["power"][k] = {
                    "replicas_needed": replicas_needed(se, c.n_pairs, effect=effect, n_sigma=sigmas) if ok else None,
                    "resolvable_effect": resolvable_effect(se, c.n_pairs, n_sigma=sigmas) if ok else None,
                }
            rows.append(d)
    return {
        "format": "trsp-paired", "format_version": "1.0", "sources": [str(p) for p in sweep_files], "effect": effect,
        "sigmas": sigmas, "n_bootstrap": n_bootstrap, "seed": seed, "L": ens.L, "tolerance": ens.tolerance, "comparisons": rows,
    }  # fmt: skip


def _comparisons(texts: list[str], variants: list[str]) -> list[tuple[str, str]]:
    """The ``--compare`` pairs, checked against the sweep's variants (default: every variant against the first)."""
    from trsp_ref.params import ParameterError

    if not texts:
        if len(variants) < 2:
            raise ParameterError("sweep files", f"hold one variant ({variants[0]!r}): there is nothing to compare")
        return [(v, variants[0]) for v in variants[1:]]
    pairs = []
    for text in texts:
        if text.count("|") != 1:
            raise ParameterError("--compare", 'must be "VARIANT_A|VARIANT_B"', text)
        a, b = (x.strip() for x in text.split("|"))
        for name in (a, b):
            if name not in variants:
                raise ParameterError("--compare", f"names no variant of the sweep ({name!r}); its variants are {variants}", text)
        if a == b:
            raise ParameterError("--compare", "compares a variant with itself: the ratio is 1 with no error, which tests nothing", text)
        if (a, b) in pairs:
            raise ParameterError("--compare", "is given twice", text)
        pairs.append((a, b))
    return pairs


def run_paired(
    sweep_files: list[Path], comparisons: list[str], json_out: Path | None = None, *, n_bootstrap: int = 400, seed: int = 0,
    effect: float = 0.2, sigmas: float = 3.0, force: bool = False,
) -> dict:
    import typer

    from trsp_obs.paired import OBSERVABLES
    from trsp_runfile.outputs import Output, OutputSet

    outputs = None if json_out is None else OutputSet([Output("--json", Path(json_out))], inputs=sweep_files, force=force)
    summary = paired_summary(sweep_files, comparisons, n_bootstrap=n_bootstrap, seed=seed, effect=effect, sigmas=sigmas)

    def f(x, fmt=".3g"):
        return "nan" if x is None else format(x, fmt)

    for d in summary["comparisons"]:
        typer.echo(
            f"T = {d['temperature']:g}, L = {d['L']}: {d['variant_a']} / {d['variant_b']}, {d['n_pairs']} pairs"
            f" ({'paired' if d['paired'] else 'NOT paired'}; initial fields identical: {d['initial_fields_identical']};"
            f" corr of replicas' Q(tau_chi) {f(d['q_correlation'], '.2f')})"
        )
        for k in OBSERVABLES:
            pw = d["power"][k]
            typer.echo(
                f"  {k:10s} {f(d['value_a'][k]):>8s} / {f(d['value_b'][k]):>8s} = {f(d['ratio'][k], '.3f')}"
                f"  se(ln) {f(d['se_log'][k], '.3f')} (unpaired {f(d['se_log_unpaired'][k], '.3f')}, x{f(d['variance_reduction'][k], '.2g')})"
                f"  z {f(d['z'][k], '+.2f')}  p {f(d['p'][k], '.2g')}  (jackknife se {f(d['se_log_jackknife'][k], '.3f')}, t {f(d['t_jackknife'][k], '+.2f')})"
                f"  | {summary['effect']:.0%} at {summary['sigmas']:g} se needs {pw['replicas_needed']} pairs; now resolves {f(pw['resolvable_effect'], '.0%')}"
            )
    if outputs is not None:
        with outputs.writing() as w:
            w.path("--json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8", newline="\n")
        typer.echo(f"wrote {json_out}")
    return summary
