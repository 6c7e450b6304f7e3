"""Does the effect of f = 0.2 against f = 1 change between L = 20 and L = 40 (Sec. VII.B's open
question; docs/reproduction.md, "System size (Sec. VII.B)")?  Reads the two trsp paired JSON
files (independent sweeps, so the errors add in quadrature: trsp_obs.paired.size_difference)
and writes docs/results/size_compare.json.  Run from the repository root:
python3 docs/results/size_compare.py  (instant)."""
import json
import sys

sys.path.insert(0, ".")  # run from the repository root
from trsp_obs.paired import OBSERVABLES, PairedComparison, size_difference  # noqa: E402


def comparisons(path):
    doc = json.load(open(path))
    return {round(c["temperature"], 6): c for c in doc["comparisons"]}


def as_comparison(c):
    return PairedComparison(c["temperature"], c["variant_a"], c["variant_b"], c["n_pairs"], c["paired"], c["initial_fields_identical"],
                            c["q_correlation"], ratio=c["ratio"], se_log=c["se_log"])  # fmt: skip


small, large = comparisons("docs/results/ka_size_L20_paired.json"), comparisons("docs/results/ka_size_L40_paired.json")
rows = []
for T in sorted(set(small) & set(large)):
    for k in OBSERVABLES:
        d, se, z = size_difference(as_comparison(small[T]), as_comparison(large[T]), k)
        rows.append(dict(temperature=T, observable=k, ratio_L20=small[T]["ratio"][k], se_log_L20=small[T]["se_log"][k],
                         pairs_L20=small[T]["n_pairs"], ratio_L40=large[T]["ratio"][k], se_log_L40=large[T]["se_log"][k],
                         pairs_L40=large[T]["n_pairs"], d_log=d, se=se, z=z))  # fmt: skip
        print(f"T = {T:g} {k:10s} L=20 {small[T]['ratio'][k]:.3f} (se_ln {small[T]['se_log'][k]:.3f})  "
              f"L=40 {large[T]['ratio'][k]:.3f} (se_ln {large[T]['se_log'][k]:.3f})  change of ln ratio {d:+.3f} +- {se:.3f} (z {z:+.2f})")
json.dump({"rows": rows}, open("docs/results/size_compare.json", "w"), indent=1)
