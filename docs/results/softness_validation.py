"""Validation of `trsp softness` on Kob-Andersen MD (issue 17): the numbers of docs/softness.md.

    OMP_NUM_THREADS=1 nice -n 10 python3 docs/results/softness_validation.py \\
        --train /work/data/md/campaign/T0.55/run0.gsd /work/data/md/campaign/T0.55/run1.gsd \\
        --transfer /work/data/md/campaign/T0.70/run0.gsd \\
        --test /work/data/md/campaign/T0.55/run2.gsd /work/data/softness/md/T0.60.gsd /work/data/md/campaign/T0.70/run0.gsd \\
        --max-frames 120 60 50 --work /work/data/softness/validation3 --out docs/results/softness_validation.json

(docs/softness.md gives the command that made the committed JSON.)
What it measures (each with the trajectories and settings recorded in the JSON):

1. training at the lowest temperature with `trsp softness train`'s defaults (t_R = 10, p_hop > 0.6
   vs p_hop < 0.02 over 2 tau_alpha, balanced, C by 5-fold CV) on every ``--train`` trajectory:
   the held-out accuracy with its binomial standard error;
2. per ``--test`` trajectory (the first at the training temperature, best one not trained on), on
   ``--max-frames`` frames spread evenly over those where p_hop is defined, for the trained (A)
   particles: P(R|S) with R = p_hop > 0.2 in bins of S, a weighted fit of ln P(R|S) linear in S
   (Poisson weights), and the moments of P(S) (mean, sd, skewness, excess kurtosis);
3. Eq. 3: at fixed S, ln P(R|S, T) linear in 1/T: Sigma(S) - Delta E(S) / T per bin (weighted),
   its chi^2 per degree of freedom, Delta E(S) and Sigma(S) linear in S, and the onset
   T0 = dDeltaE/dS / dSigma/dS where every line crosses;
4. C_S(r) = <dS_i dS_j>_r / <dS^2> at the training temperature and an exponential decay length;
5. two inference-quality checks in the spirit of Swain, Ridout & Nemenman (arXiv:2403.00751;
   docs/softness.md says what was and was not available of the paper): (a) transfer: the
   hyperplane trained at another temperature (``--transfer``) against the first (cosine of the
   normals in the common standardisation, and the correlation of the two softnesses on the same
   particles); (b) sufficiency: at fixed S, does P(R) still depend on structure?  The particles of
   each S bin are split at the median of the leading principal component of the standardised
   features orthogonal to the hyperplane; if S captured the barrier, P(R|S, high) = P(R|S, low).

Per-trajectory softness and p_hop are cached in --work (npz), so a rerun only adds what is new;
the JSON is rewritten after every stage (``complete`` says whether all of them ran).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from trsp_softness.apply import frame_features  # noqa: E402
from trsp_softness.model_file import read_model, write_model  # noqa: E402
from trsp_softness.p_hop import half_window  # noqa: E402
from trsp_softness.train import TrainOptions, train_model  # noqa: E402
from trsp_softness.trajectories import select_types, trajectory_p_hop  # noqa: E402
from trsp_traj import open_trajectory  # noqa: E402

BIN = 0.5
S_EDGES = np.arange(-8.0, 8.0 + BIN, BIN)
MIN_R, MIN_N = 5, 300


def _train(path, out: Path, seed: int) -> dict:
    paths = list(path) if isinstance(path, (list, tuple)) else [path]
    if not out.exists():
        trajs = [open_trajectory(p) for p in paths]
        try:
            t0 = time.process_time()
            model = train_model(trajs, TrainOptions(types=("A",), progress=False, seed=seed))
            cpu = time.process_time() - t0
        finally:
            for t in trajs:
                t.close()
        write_model(model, out)
        (out.with_suffix(".cpu")).write_text(str(cpu))
    m = read_model(out)
    cpu = float(out.with_suffix(".cpu").read_text()) if out.with_suffix(".cpu").exists() else float("nan")
    return {"model": m, "summary": {
        "trajectory": [str(p) for p in paths] if len(paths) > 1 else str(paths[0]), "temperature": m.temperature,
        "test_accuracy": m.svm.test_accuracy,
        "test_accuracy_se": math.sqrt(m.svm.test_accuracy * (1 - m.svm.test_accuracy) / max(1, sum(m.svm.n_test))),
        "train_accuracy": m.svm.train_accuracy, "C": m.svm.C, "features_used": int(m.svm.used.sum()),
        "features": int(m.svm.used.size), "min_spread": m.svm.min_spread, "max_abs_weight": float(np.max(np.abs(m.svm.weights))), "cv_accuracy": {str(k): v for k, v in m.svm.cv_accuracy.items()},
        "n_train": list(m.svm.n_train), "n_test": list(m.svm.n_test), "tau_alpha": m.training.get("tau_alpha"),
        "slow_window": m.training.get("slow_window"), "candidates_rearranging": m.training.get("candidates_rearranging"),
        "candidates_non_rearranging": m.training.get("candidates_non_rearranging"), "cpu_s": cpu}}


def _scores(models: dict, path: Path, work: Path, max_frames: int, keep: int = 0) -> dict:
    """Softness of the trained particles under each model (same structure functions) on at most
    ``max_frames`` frames spread evenly over those where p_hop is defined, and p_hop there; the
    features of ``keep`` of those frames (not cached) for the sufficiency check."""
    first = next(iter(models.values()))
    tag = "_".join(sorted(models))
    cache = work / f"{path.stem}_{tag}_f{max_frames}.npz"
    if cache.exists() and not keep:
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    with open_trajectory(path) as t:
        h = half_window(first.p_hop_window, t.frame_interval)
        A = select_types(t, first.trained_types)
        inherent = first.positions == "inherent"
        t0 = time.process_time()
        ph = trajectory_p_hop(t, h, inherent, A, False)
        defined = np.arange(h, h + ph.shape[0])
        frames = defined[np.unique(np.linspace(0, defined.size - 1, min(max_frames, defined.size)).round().astype(int))]
        kept = set(frames[np.unique(np.linspace(0, frames.size - 1, min(keep, frames.size)).round().astype(int))]) if keep else set()
        soft = {name: np.empty((frames.size, A.size)) for name in models}
        pos = np.empty((frames.size, A.size, t.dim), dtype=np.float32)
        G, R = [], []
        for row, p, g in frame_features(t, frames, A, first.structure, inherent):
            for name, m in models.items():
                soft[name][row] = m.softness(g)
            pos[row] = p[A]
            if frames[row] in kept:
                G.append(g)
                R.append(ph[frames[row] - h] > 0.2)
        cpu = time.process_time() - t0
        out = {"p_hop": ph[frames - h], "positions": pos, "frames": frames, "box": t.box, "temperature": np.array(t.temperature),
               "cpu_s": np.array(cpu), **{f"softness_{name}": v for name, v in soft.items()}}
    np.savez_compressed(cache, **out)
    if keep:
        out["G"], out["R"] = np.concatenate(G), np.concatenate(R)
    return out


def _p_r_given_s(soft, ph):
    r = (ph > 0.2).ravel()
    s = soft.ravel()
    idx = np.digitize(s, S_EDGES) - 1
    n = np.bincount(idx, minlength=len(S_EDGES))[: len(S_EDGES) - 1]
    k = np.bincount(idx, weights=r, minlength=len(S_EDGES))[: len(S_EDGES) - 1]
    centre = 0.5 * (S_EDGES[1:] + S_EDGES[:-1])
    ok = (k >= MIN_R) & (n >= MIN_N)
    return centre, n, k, ok


def _wls(x, y, w):
    """Weighted least squares y = a + b x: (a, b, chi2/dof)."""
    X = np.c_[np.ones_like(x), x]
    W = np.diag(w)
    beta = np.linalg.solve(X.T @ W @ X, X.T @ W @ y)
    res = y - X @ beta
    dof = max(len(x) - 2, 1)
    return float(beta[0]), float(beta[1]), float(res @ W @ res / dof)


def _moments(soft):
    from scipy.stats import kurtosis, skew

    s = soft.ravel()
    return {"mean": float(s.mean()), "sd": float(s.std()), "skewness": float(skew(s)), "excess_kurtosis": float(kurtosis(s))}


def _correlation(soft, pos, box, r_max=None, dr=0.1, max_frames=20):
    r_max = r_max or float(np.min(box)) / 2
    edges = np.arange(0.0, r_max + dr, dr)
    num = np.zeros(len(edges) - 1)
    cnt = np.zeros(len(edges) - 1)
    var = []
    for f in np.linspace(0, soft.shape[0] - 1, min(max_frames, soft.shape[0])).astype(int):
        d = soft[f] - soft[f].mean()
        var.append(np.mean(d * d))
        x = pos[f].astype(np.float64)
        v = x[:, None, :] - x[None, :, :]
        v -= box * np.round(v / box)
        r = np.sqrt(np.sum(v * v, axis=-1))
        iu = np.triu_indices(len(x), 1)
        rr, prod = r[iu], (d[:, None] * d[None, :])[iu]
        b = np.digitize(rr, edges) - 1
        keep = (b >= 0) & (b < len(num))
        num += np.bincount(b[keep], weights=prod[keep], minlength=len(num))
        cnt += np.bincount(b[keep], minlength=len(num))
    c = np.where(cnt > 0, num / np.maximum(cnt, 1), np.nan) / np.mean(var)
    centre = 0.5 * (edges[1:] + edges[:-1])
    # decay length: ln C_S(r) linear in r beyond contact (r >= 0.9) while C_S > 0.02 (farther out the
    # mean subtracted per frame and the box bias it); C_S(0) = 1 is the nugget, not fitted
    fit = (centre >= 0.9) & np.isfinite(c) & (c > 0.02)
    xi, amp = float("nan"), float("nan")
    if fit.sum() >= 3:
        slope, icpt = np.polyfit(centre[fit], np.log(c[fit]), 1)
        xi, amp = (float(-1.0 / slope), float(np.exp(icpt))) if slope < 0 else (float("inf"), float("nan"))
    return {"r": centre.round(3).tolist(), "C_S": np.round(c, 5).tolist(), "fit_range": [float(centre[fit].min()), float(centre[fit].max())]
            if fit.any() else None, "decay_length": xi, "amplitude": amp,
            "model": "C_S(r) = amplitude exp(-r / decay_length) for r >= 0.9 where C_S > 0.02"}


def _sufficiency(model, G: np.ndarray, R: np.ndarray, n_frames: int):
    """P(R|S) in S bins for particles above / below the median of the leading principal component of
    the standardised (used) features orthogonal to the hyperplane normal."""
    u_ = model.svm.used
    Z = (G[:, u_] - model.svm.mean[u_]) / model.svm.scale[u_]
    v = model.svm.v[u_] / np.linalg.norm(model.svm.v[u_])
    Zp = Z - np.outer(Z @ v, v)
    Zp -= Zp.mean(axis=0)
    u = np.linalg.svd(Zp, full_matrices=False)[2][0]
    proj = Zp @ u
    S = model.softness(G)
    rows = []
    zs = []
    for lo in np.arange(-4, 4, 1.0):
        m = (S >= lo) & (S < lo + 1.0)
        if m.sum() < 200:
            continue
        hi_ = m & (proj > np.median(proj[m]))
        lo_ = m & ~hi_
        k1, n1, k0, n0 = R[hi_].sum(), hi_.sum(), R[lo_].sum(), lo_.sum()
        if min(k1, k0) < 5:
            continue
        p1, p0 = k1 / n1, k0 / n0
        lr = math.log(p1 / p0)
        se = math.sqrt(1 / k1 - 1 / n1 + 1 / k0 - 1 / n0)
        zs.append(lr / se)
        rows.append({"S_bin": [float(lo), float(lo + 1)], "P_high": p1, "P_low": p0, "log_ratio": lr, "se": se, "z": lr / se})
    return {"frames": int(n_frames), "examples": int(len(S)), "bins": rows,
            "chi2_per_bin": float(np.mean(np.square(zs))) if zs else float("nan"),
            "note": "chi2_per_bin ~ 1 if P(R) depends on structure only through S; >> 1 if a second direction matters"}


def _clean(x):
    """JSON-ready: numpy scalars to Python, NaN and infinities to null."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} cpu {time.process_time():.0f} s] {msg}", file=sys.stderr, flush=True)


def _f(x, fmt=".3g"):
    return "n/a" if x is None else format(x, fmt)


def markdown(res: dict) -> str:
    """The tables of docs/softness.md's validation section, from a summary JSON."""
    tr = res["training"]
    out = [f"Training ({', '.join(Path(p).parent.name + '/' + Path(p).name for p in (tr['trajectory'] if isinstance(tr['trajectory'], list) else [tr['trajectory']]))}, "
           f"T = {_f(tr['temperature'])}): held-out accuracy **{_f(tr['test_accuracy'])} +- {_f(tr['test_accuracy_se'], '.2f')}** "
           f"({sum(tr['n_test'])} examples; training {_f(tr['train_accuracy'])}, C = {_f(tr['C'])}, "
           f"{tr['n_train'][0]} + {tr['n_train'][1]} training examples of {_f(tr['candidates_rearranging'], '.0f')} rearranging / "
           f"{_f(tr['candidates_non_rearranging'], '.0f')} non-rearranging candidates; {tr['features_used']} of {tr['features']} "
           f"features used, max |w| = {_f(tr['max_abs_weight'])}; tau_alpha (F_s) = {', '.join(_f(x) for x in tr['tau_alpha'])}; "
           f"{_f(tr['cpu_s'], '.0f')} CPU s).", "",
           "| T | trajectory | frames | P(R) | <S> | sd(S) | skewness | excess kurtosis | ln P(R\\|S) slope | chi2/dof | S bins | CPU s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in res.get("temperatures", []):
        m, lin = e["moments"], e.get("lnP_linear_in_S", {})
        name = Path(e["trajectory"]).parent.name + "/" + Path(e["trajectory"]).name + ("" if e.get("held_out", True) else " (trained on)")
        out.append(f"| {_f(e['temperature'])} | {name} | {e['frames_used']} | {_f(e['P_R'])} | {_f(m['mean'])} | {_f(m['sd'])} | "
                   f"{_f(m['skewness'])} | {_f(m['excess_kurtosis'])} | {_f(lin.get('slope'))} | {_f(lin.get('chi2_per_dof'))} | "
                   f"{lin.get('bins', 0)} | {_f(e['cpu_s_apply'], '.0f')} |")
    ar = res.get("arrhenius", {})
    out += ["", "Eq. 3 (bins with >= 3 temperatures): " + (
        "; ".join(f"S = {_f(S)}: Delta E = {_f(E)}, Sigma = {_f(Sg)}, chi2/dof = {_f(c)}"
                  for S, E, Sg, c in zip(ar.get("S", []), ar.get("DeltaE", []), ar.get("Sigma", []), ar.get("chi2_per_dof", [])))
        or "no S bin had enough rearrangements at 3 temperatures")]
    if "T0" in ar:
        out.append(f"Delta E(S) = {_f(ar['DeltaE_linear']['intercept'])} + {_f(ar['DeltaE_linear']['slope'])} S, "
                   f"Sigma(S) = {_f(ar['Sigma_linear']['intercept'])} + {_f(ar['Sigma_linear']['slope'])} S, T0 = {_f(ar['T0'])}.")
    cs = res.get("C_S")
    if cs:
        out += ["", f"C_S(r): decay length {_f(cs['decay_length'])} sigma_AA (fit range {cs['fit_range']}, amplitude {_f(cs['amplitude'])})."]
    iq = res.get("inference_quality", {})
    if "sufficiency" in iq:
        su = iq["sufficiency"]
        out.append(f"Sufficiency ({su['examples']} particles, {su['frames']} frames): mean z^2 per S bin = {_f(su['chi2_per_bin'])} over "
                   f"{len(su['bins'])} bins (1 if P(R) depends on structure only through S); z per bin: "
                   + ", ".join(f"{_f(b['z'], '.2f')}" for b in su["bins"]) + ".")
    if "transfer" in iq:
        t = iq["transfer"]
        tt = res.get("training_transfer", {})
        out.append(f"Transfer (model trained at T = {_f(tt.get('temperature'))}, held-out accuracy {_f(tt.get('test_accuracy'))}): "
                   f"cosine of the normals {_f(t['cosine_of_normals'])}, correlation of the two softnesses on the same particles "
                   f"{_f(t['softness_correlation'])}.")
    return "\n".join(out)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        print(markdown(json.loads(Path(sys.argv[2]).read_text())))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, nargs="+", required=True, help="trajectories at the training temperature (one model)")
    ap.add_argument("--transfer", type=Path, nargs="*", default=[], help="trajectories at another temperature: a second model")
    ap.add_argument("--test", type=Path, nargs="*", default=[], help="trajectories to score (the first: the training temperature)")
    ap.add_argument("--work", type=Path, default=Path("/work/data/softness/validation"))
    ap.add_argument("--out", type=Path, default=REPO / "docs/results/softness_validation.json")
    ap.add_argument("--max-frames", type=int, nargs="+", default=[60],
                    help="frames scored per test trajectory (one value, or one per --test)")
    ap.add_argument("--sufficiency-frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    budget = a.max_frames * len(a.test) if len(a.max_frames) == 1 else a.max_frames
    if len(budget) != len(a.test):
        ap.error("--max-frames: give one value or one per --test trajectory")
    res = {"issue": 17, "settings": {"max_frames": dict(zip(map(str, a.test), budget)), "bin": BIN,
                                     "min_rearranging_per_bin": MIN_R, "min_per_bin": MIN_N, "seed": a.seed,
                                     "sufficiency_frames": a.sufficiency_frames}}

    def save(stage):
        res["complete"] = stage == "done"
        a.out.write_text(json.dumps(_clean(res), indent=1) + "\n")
        _log(f"wrote {a.out} ({stage})")

    _log(f"training on {[str(p) for p in a.train]}")
    tag = "_".join(p.parent.name + p.stem for p in a.train)
    tr = _train(a.train, a.work / f"model_{tag}.h5", a.seed)
    model = tr["model"]
    res["training"] = tr["summary"]
    models = {"main": model}
    if a.transfer:
        tag2 = "_".join(p.parent.name + p.stem for p in a.transfer)
        _log(f"second training on {[str(p) for p in a.transfer]}")
        tr2 = _train(a.transfer, a.work / f"model_{tag2}.h5", a.seed)
        models["transfer"] = tr2["model"]
        res["training_transfer"] = tr2["summary"]
    save("trained")
    per_T = {}
    suff = None
    for i, (p, nf) in enumerate(zip(a.test, budget)):
        _log(f"softness and p_hop of {p} ({nf} frames)")
        d = _scores(models if i == 0 else {"main": model}, p, a.work, nf, keep=a.sufficiency_frames if i == 0 else 0)
        soft = d["softness_main"]
        T = float(d["temperature"])
        c, n, k, ok = _p_r_given_s(soft, d["p_hop"])
        P = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        entry = {"trajectory": str(p), "temperature": T, "frames_used": int(d["frames"].size), "cpu_s_apply": float(d["cpu_s"]),
                 "held_out": str(p) not in map(str, a.train),
                 "P_R": float((d["p_hop"] > 0.2).mean()), "moments": _moments(soft),
                 "bins": {"S": c[ok].tolist(), "n": n[ok].astype(int).tolist(), "k": k[ok].astype(int).tolist(), "P": P[ok].tolist()}}
        if ok.sum() >= 3:
            a0, b0, chi = _wls(c[ok], np.log(P[ok]), k[ok].astype(float))
            entry["lnP_linear_in_S"] = {"intercept": a0, "slope": b0, "chi2_per_dof": chi, "bins": int(ok.sum())}
        per_T[T] = (entry, c, n, k, ok, d)
        res["temperatures"] = [per_T[x][0] for x in sorted(per_T)]
        if i == 0:
            res["C_S"] = _correlation(soft, d["positions"], d["box"])
            _log("inference-quality checks")
            suff = {"sufficiency": _sufficiency(model, d["G"], d["R"], a.sufficiency_frames)}
            if "transfer" in models:
                m2 = models["transfer"]
                # the second hyperplane in the first model's standardisation: v2' = v2 * s1 / s2 (used by both)
                both = model.svm.used & m2.svm.used
                v1 = model.svm.v * both
                v2 = m2.svm.v * both * model.svm.scale / m2.svm.scale
                suff["transfer"] = {"cosine_of_normals": float(v1 @ v2 / (np.linalg.norm(v1) * np.linalg.norm(v2))),
                                    "softness_correlation": float(np.corrcoef(soft.ravel(), d["softness_transfer"].ravel())[0, 1]),
                                    "on": str(p), "features_used_by_both": int(both.sum())}
            res["inference_quality"] = suff
        save(f"scored {p}")
    # Eq. 3
    Ts = np.array(sorted(per_T))
    arr = {"S": [], "DeltaE": [], "Sigma": [], "chi2_per_dof": [], "n_T": []}
    centres = per_T[Ts[0]][1]
    for j, S in enumerate(centres):
        rows = [(T, per_T[T][3][j], per_T[T][2][j]) for T in Ts if per_T[T][4][j]]
        if len(rows) < 3:
            continue
        T_, k_, n_ = (np.array(x, dtype=float) for x in zip(*rows))
        sig, slope, chi = _wls(1.0 / T_, np.log(k_ / n_), k_)
        arr["S"].append(float(S))
        arr["Sigma"].append(sig)
        arr["DeltaE"].append(-slope)
        arr["chi2_per_dof"].append(chi)
        arr["n_T"].append(len(rows))
    if len(arr["S"]) >= 2:
        e = np.polyfit(arr["S"], arr["DeltaE"], 1)
        s = np.polyfit(arr["S"], arr["Sigma"], 1)
        arr["DeltaE_linear"] = {"slope": float(e[0]), "intercept": float(e[1])}
        arr["Sigma_linear"] = {"slope": float(s[0]), "intercept": float(s[1])}
        arr["T0"] = float(e[0] / s[0]) if s[0] != 0 else float("nan")
    res["arrhenius"] = arr
    res["cpu_s_total"] = time.process_time()
    save("done")
    print(json.dumps({"accuracy": res["training"]["test_accuracy"], "arrhenius_T0": arr.get("T0"),
                      "checks": {k: (v.get("chi2_per_bin") if k == "sufficiency" else v.get("cosine_of_normals"))
                                 for k, v in (suff or {}).items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
