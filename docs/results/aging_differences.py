"""Per-quench change <S>(t) - <S>(t_min) (cancels each quench's initial-field mean), by model and T_F, with the
z-score of the coldest minus the warmest T_F.  Usage: python3 docs/results/aging_differences.py docs/results/ka_aging.h5"""
import sys, numpy as np, h5py
h = h5py.File(sys.argv[1], "r"); g = h["aging"]; t = g["time"][()]; TF = g["T_final"][()]
models = list(g["model"].asstr()[()]); M = g["member_S_mean"][()]
for a, m in enumerate(models):
    print("==", m)
    D = M[a] - M[a][:, :, :1]  # (T_F, replica, time)
    for x in [1, 3, 10, 30, 100, 300, 1000, 3000, 10000]:
        if x > t[-1] * 1.01: continue
        j = int(np.argmin(abs(t - x)))
        d = D[:, :, j]; mean = d.mean(axis=1); se = d.std(axis=1, ddof=1) / np.sqrt(d.shape[1])
        cold, warm = 0, len(TF) - 1
        z = (mean[cold] - mean[warm]) / np.hypot(se[cold], se[warm])
        print(f" t={t[j]:8.3g}: " + "  ".join(f"T_F={TF[i]}: {mean[i]:+.4f}+-{se[i]:.4f}" for i in range(len(TF))) + f"   cold-warm z={z:+.1f}")
    j1 = int(np.argmin(abs(t - 1.0)))
    print("  slope 0.1->%.3g:" % t[j1], [f"{(D[i,:,j1].mean())/(t[j1]-t[0]):.4f}+-{D[i,:,j1].std(ddof=1)/np.sqrt(D.shape[1])/(t[j1]-t[0]):.4f}" for i in range(len(TF))])
