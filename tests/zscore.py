"""The one z-score threshold of the observables' statistical tests (tests/test_obs_*.py).

An estimate is compared with its exact value as z = (estimate - exact) / standard error;
a check passes while |z| < Z_MAX and a mutant must reach |z| > Z_MAX.

False-alarm rate (house rule 3): for one comparison with a normally distributed z,
P(|z| > Z_MAX) = erfc(Z_MAX / sqrt(2)) = 6.8e-6 (Z_MAX_FALSE_ALARM); a check that takes the
maximum over k comparisons has at most k times that (Bonferroni: 6.8e-4 for k = 100).  Bootstrap standard errors from few replicas make the tails
heavier than normal; the CI runs use fixed seeds, so a pass is deterministic.
"""

import math

__all__ = ["Z_MAX", "Z_MAX_FALSE_ALARM"]

Z_MAX = 4.5
#: two-sided false-alarm rate of one comparison at Z_MAX, for a standard normal z
Z_MAX_FALSE_ALARM = math.erfc(Z_MAX / math.sqrt(2.0))
