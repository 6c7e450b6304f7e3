"""The linear SVM that turns structure functions into softness (Eq. 1).

Features are standardised (z = (g - m) / s, mean and standard deviation of the training split);
a linear support-vector machine (scikit-learn's ``LinearSVC``, hinge loss: the soft-margin SVM
of libsvm's linear kernel that the softness papers used) separates rearranging (+1) from
non-rearranging (-1) examples; its penalty C is chosen by stratified k-fold cross-validation on
the training split, and the accuracy is measured on a held-out test split.  Softness is the
signed score of the hyperplane,

    S = b + v . z = w0 + w . g,   w = v / s,   w0 = b - sum_alpha v_alpha m_alpha / s_alpha,

so S > 0 predicts a rearrangement (Eq. 1; the algebra is in proofs/softness_descriptors.py).

Features whose spread over the training split is below ``min_spread`` (default
:data:`DEFAULT_MIN_SPREAD`) are dropped before the fit: their scale is 1 and their weight 0, and
the model records which (``used``).  Why: a radial function centred inside the core (mu < ~0.9
sigma_AA) is ~0 on every training example (spreads of 1e-146 ... 1e-5 measured at T = 0.55), so
its standard deviation is no scale at all, v / s reached 1e143, and any particle that came a
little closer than every training example got an astronomical S.  Such a feature carries no
information the training set can weigh.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from trsp_ref.params import ParameterError

__all__ = ["DEFAULT_C_GRID", "DEFAULT_MIN_SPREAD", "LinearSoftness", "fit_linear_svm", "standardise"]

#: penalties tried by cross-validation
DEFAULT_C_GRID = (0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)


@dataclass
class LinearSoftness:
    """A trained hyperplane: standardisation (mean, scale), weights v and intercept b in
    standardised units; ``weights``/``w0`` give the same S on raw features."""

    mean: np.ndarray
    scale: np.ndarray
    v: np.ndarray
    b: float
    C: float
    used: np.ndarray | None = None  # bool (M,): features in the fit; None: all (the others have v = 0, scale = 1)
    min_spread: float = float("nan")  # the rule that set ``used`` (NaN: unknown, e.g. a format-1.0 file)
    cv_accuracy: dict = field(default_factory=dict)  # C -> mean CV accuracy
    test_accuracy: float = float("nan")
    train_accuracy: float = float("nan")
    n_train: tuple = (0, 0)  # (rearranging, non-rearranging)
    n_test: tuple = (0, 0)
    converged: bool = True

    def __post_init__(self):
        if self.used is None:
            self.used = np.ones(np.shape(self.v), dtype=bool)
        self.used = np.asarray(self.used, dtype=bool)

    @property
    def weights(self) -> np.ndarray:
        return np.where(self.used, self.v / self.scale, 0.0)

    @property
    def w0(self) -> float:
        u = self.used
        return float(self.b - np.sum(self.v[u] * self.mean[u] / self.scale[u]))

    def softness(self, g: np.ndarray) -> np.ndarray:
        """S = b + v . (g - m) / s over the used features, for feature rows g (n, M)."""
        u = self.used
        return self.b + ((np.asarray(g, dtype=np.float64)[:, u] - self.mean[u]) / self.scale[u]) @ self.v[u]


#: features whose standard deviation over the training split is below this are dropped.  The
#: structure functions are sums of per-neighbour (radial) or per-pair (angular) terms, a radial
#: term at most 1; a spread below 1e-3 means no training example has more than a few hundredths
#: of one neighbour in the function's shell.  Measured on KA at T = 0.55 (N = 1000, 249 examples
#: per class): the spreads jump from 2e-5 (G[B], mu = 0.7) to 1.1e-3 (G[A], mu = 0.9); the 31
#: below are the core's radial functions, the smallest angular spread was 2.2e-3.
DEFAULT_MIN_SPREAD = 1e-3


def standardise(X: np.ndarray, min_spread: float = DEFAULT_MIN_SPREAD):
    """(mean, scale, used) of feature rows X: used = spread >= min_spread; scale 1 where unused."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    used = (scale >= min_spread) & (scale > 0)
    scale[~used] = 1.0
    return mean, scale, used


def _svm(C: float, seed: int):
    from sklearn.svm import LinearSVC

    return LinearSVC(C=C, loss="hinge", dual=True, max_iter=100_000, tol=1e-5, random_state=seed)


def fit_linear_svm(X_pos: np.ndarray, X_neg: np.ndarray, *, c_grid=DEFAULT_C_GRID, folds: int = 5,
                   test_fraction: float = 0.2, seed: int = 0, min_spread: float = DEFAULT_MIN_SPREAD) -> LinearSoftness:
    """Standardise, drop features of spread < ``min_spread``, choose C by stratified ``folds``-fold
    CV on the training split, fit, test.

    X_pos: features of rearranging examples (n, M); X_neg: non-rearranging (n', M)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ParameterError("--test-fraction", "must be in (0, 1)", test_fraction)
    if folds < 2:
        raise ParameterError("--cv-folds", "must be >= 2", folds)
    if not (np.isfinite(min_spread) and min_spread >= 0):
        raise ParameterError("--min-spread", "must be finite and >= 0", min_spread)
    c_grid = tuple(float(c) for c in c_grid)
    if not c_grid or any(not (np.isfinite(c) and c > 0) for c in c_grid):
        raise ParameterError("--c-grid", "must list penalties C > 0", c_grid)
    X = np.vstack([X_pos, X_neg]).astype(np.float64)
    y = np.r_[np.ones(len(X_pos), dtype=int), -np.ones(len(X_neg), dtype=int)]
    if not np.all(np.isfinite(X)):
        raise ParameterError("structure functions", "are not finite for some training example")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, stratify=y, random_state=seed)
    n_min = min(np.sum(y_tr == 1), np.sum(y_tr == -1))
    if n_min < folds:
        raise ParameterError("--cv-folds", f"{folds}-fold cross-validation needs at least {folds} training examples "
                                           f"per class, have {n_min}")
    mean, scale, used = standardise(X_tr, min_spread)
    if not used.any():
        raise ParameterError("--min-spread", f"every structure function has a training spread below {min_spread:g} "
                                             f"(largest {X_tr.std(axis=0).max():.3g}): nothing to train on")
    Z_tr = (X_tr[:, used] - mean[used]) / scale[used]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = {}
    converged = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for C in c_grid:
            acc = []
            for tr, va in cv.split(Z_tr, y_tr):
                # each fold standardises with its own training part, as the final fit does
                m, s, u = standardise(X_tr[tr], min_spread)
                u = u if u.any() else used  # a fold too small to populate any feature: the whole split's choice
                clf = _svm(C, seed).fit((X_tr[tr][:, u] - m[u]) / s[u], y_tr[tr])
                acc.append(clf.score((X_tr[va][:, u] - m[u]) / s[u], y_tr[va]))
            scores[C] = float(np.mean(acc))
        best = max(c_grid, key=lambda c: (scores[c], -c))  # ties: the smaller C (wider margin)
        clf = _svm(best, seed).fit(Z_tr, y_tr)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    v = np.zeros(X.shape[1])
    v[used] = clf.coef_.ravel()
    model = LinearSoftness(mean=mean, scale=scale, v=v, b=float(clf.intercept_[0]), used=used, min_spread=float(min_spread),
                           C=best, cv_accuracy=scores, converged=converged,
                           n_train=(int(np.sum(y_tr == 1)), int(np.sum(y_tr == -1))),
                           n_test=(int(np.sum(y_te == 1)), int(np.sum(y_te == -1))))
    model.train_accuracy = float(np.mean(np.sign(model.softness(X_tr)) == y_tr))
    model.test_accuracy = float(np.mean(np.sign(model.softness(X_te)) == y_te))
    return model
