"""How strong the preset's kick is against the detailed-balance bound (docs/reproduction.md,
"Facilitation and kick strength").  Run from the repository root:
python3 docs/results/kick_bound.py  (writes docs/results/kick_bound.json; ~100 CPU-seconds).

Dense oracle on a 3D L = 8 lattice (the kick and K' are local), untruncated kick, T = 0.47,
cluster 0 (a plaquette).  For each kick: lam_max, the largest eigenvalue of K_Delta K'^-1
(Eq. 19 needs < 1); H_ii on the cluster; and the retention of a site's softness through one
rearrangement, the regression coefficient of S'_i on S_i given that the cluster fires,
[(1 - H) K']_ii / K'_ii (S' - mu' = (1 - H)(S - mu') + noise), on the cluster and on the
first shell of neighbours.  The bounds: the largest sigma0 (any sigma1 up to 0.5) and the
largest sigma1 (sigma0 = 0.6) with lam_max < 1, by bisection."""
import json
import sys

import numpy as np

sys.path.insert(0, ".")  # run from the repository root
from trsp_obs.presets import preset_dict  # noqa: E402
from trsp_ref.conditioning import conditioned_on_cluster  # noqa: E402
from trsp_ref.kick import drift_matrix, kick_covariance, largest_kick_eigenvalue  # noqa: E402
from trsp_ref.model import ReferenceModel  # noqa: E402
from trsp_ref.params import params_from_dict  # noqa: E402


def _params(sigma0, sigma1, f=1.0, T=0.47, L=8):
    d = preset_dict("ka_illustrative")
    d["temperature"]["T"], d["lattice"]["L"] = T, L
    d["kick"].update(sigma0=sigma0, sigma1=sigma1, facilitation=f)
    return params_from_dict(d)


# the static side (K, K' of cluster 0, rho, distances) does not depend on the kick: build it once
# with a tiny valid kick, then vary K_Delta alone
_M = ReferenceModel(_params(0.1, 0.1))
_SITES = _M.clusters[0]
_, _G0, _D0 = _M.rates.bare
_, _KP = conditioned_on_cluster(_M.K, _M.mean, _SITES, _G0, _D0)


def kick_facts(sigma0, sigma1, f=1.0):
    KD = kick_covariance(_params(sigma0, sigma1, f), _M.dist, _SITES, rho=_M.rho)
    lam = largest_kick_eigenvalue(KD, _KP)
    out = dict(sigma0=sigma0, sigma1=sigma1, f=f, lam_max=lam, K_prime_ii=float(_KP[_SITES[0], _SITES[0]]))
    if lam < 1:
        H = drift_matrix(KD, _KP)
        C = (np.eye(_M.N) - H) @ _KP
        rt = _M.dist[:, _SITES].min(axis=1)
        shell = np.flatnonzero(np.isclose(rt, rt[rt > 0].min()))
        out.update(
            H_ii=float(np.mean([H[i, i] for i in _SITES])),
            retention_cluster=float(np.mean([C[i, i] / _KP[i, i] for i in _SITES])),
            retention_first_shell=float(np.mean([C[i, i] / _KP[i, i] for i in shell])),
        )
    return out


def bisect(fn, lo, hi, steps=14):
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if fn(mid) < 1 else (lo, mid)
    return lo


rows = [kick_facts(*k) for k in [(0.6, 0.5, 1.0), (0.6, 0.5, 0.6), (0.6, 0.5, 0.2), (0.6, 1.5, 1.0), (0.6, 1.5, 0.2)]]
bounds = dict(
    sigma0_max_at_sigma1_0=bisect(lambda s: kick_facts(s, 0.0)["lam_max"], 0.3, 1.5),
    sigma0_max_at_sigma1_05=bisect(lambda s: kick_facts(s, 0.5)["lam_max"], 0.3, 1.5),
    sigma1_max_at_sigma0_06=bisect(lambda s: kick_facts(0.6, s)["lam_max"], 0.5, 3.0),
)
doc = {"lattice": "3D L = 8, untruncated kick, T = 0.47, cluster 0 (plaquette)", "kicks": rows, "bounds": bounds}
with open("docs/results/kick_bound.json", "w") as fh:
    json.dump(doc, fh, indent=1)
print(json.dumps(doc, indent=1))
