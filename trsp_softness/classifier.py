"""The linear SVM that turns structure functions into softness (Eq. 1).

Features are standardised (z = (g - m) / s, mean and standard deviation of the training split);
a linear support-vector machine (scikit-learn's ``LinearSVC``, hinge loss: the soft-margin SVM
of libsvm's linear kernel that the softness papers used) separates rearranging (+1) from
non-rearranging (-1) examples; its penalty C is chosen by stratified k-fold cross-validation on
the training split, and the accuracy is measured on a held-out test split.  Softness is the
signed score of the hyperplane,

    S = b + v . z = w0 + w . g,   w = v / s,   w0 = b - sum_alpha v_alpha m_alpha / s_alpha,

so S > 0 predicts a rearrangement (Eq. 1; the algebra is in proofs/softness_descriptors.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from trsp_ref.params import ParameterError

__all__ = ["DEFAULT_C_GRID", "LinearSoftness", "fit_linear_svm"]

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
    cv_accuracy: dict = field(default_factory=dict)  # C -> mean CV accuracy
    test_accuracy: float = float("nan")
    train_accuracy: float = float("nan")
    n_train: tuple = (0, 0)  # (rearranging, non-rearranging)
    n_test: tuple = (0, 0)
    converged: bool = True

    @property
    def weights(self) -> np.ndarray:
        return self.v / self.scale

    @property
    def w0(self) -> float:
        return float(self.b - np.sum(self.v * self.mean / self.scale))

    def softness(self, g: np.ndarray) -> np.ndarray:
        """S = b + v . (g - m) / s for feature rows g (n, M)."""
        return self.b + ((np.asarray(g, dtype=np.float64) - self.mean) / self.scale) @ self.v


#: a feature whose spread over the training examples is below this is numerically constant (e.g. a
#: radial function deep inside the core, ~1e-200): its scale is 1, so that rounding-level
#: differences between frames cannot be blown up into softness
MIN_SCALE = 1e-8


def _standardise(X: np.ndarray):
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < MIN_SCALE] = 1.0
    return mean, scale


def _svm(C: float, seed: int):
    from sklearn.svm import LinearSVC

    return LinearSVC(C=C, loss="hinge", dual=True, max_iter=100_000, tol=1e-5, random_state=seed)


def fit_linear_svm(X_pos: np.ndarray, X_neg: np.ndarray, *, c_grid=DEFAULT_C_GRID, folds: int = 5,
                   test_fraction: float = 0.2, seed: int = 0) -> LinearSoftness:
    """Standardise, choose C by stratified ``folds``-fold CV on the training split, fit, test.

    X_pos: features of rearranging examples (n, M); X_neg: non-rearranging (n', M)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ParameterError("--test-fraction", "must be in (0, 1)", test_fraction)
    if folds < 2:
        raise ParameterError("--cv-folds", "must be >= 2", folds)
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
    mean, scale = _standardise(X_tr)
    Z_tr = (X_tr - mean) / scale
    Z_te = (X_te - mean) / scale
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = {}
    converged = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for C in c_grid:
            acc = []
            for tr, va in cv.split(Z_tr, y_tr):
                # each fold standardises with its own training part, as the final fit does
                m, s = _standardise(X_tr[tr])
                clf = _svm(C, seed).fit((X_tr[tr] - m) / s, y_tr[tr])
                acc.append(clf.score((X_tr[va] - m) / s, y_tr[va]))
            scores[C] = float(np.mean(acc))
        best = max(c_grid, key=lambda c: (scores[c], -c))  # ties: the smaller C (wider margin)
        clf = _svm(best, seed).fit(Z_tr, y_tr)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    model = LinearSoftness(mean=mean, scale=scale, v=clf.coef_.ravel().astype(np.float64), b=float(clf.intercept_[0]),
                           C=best, cv_accuracy=scores, converged=converged,
                           n_train=(int(np.sum(y_tr == 1)), int(np.sum(y_tr == -1))),
                           n_test=(int(np.sum(y_te == 1)), int(np.sum(y_te == -1))))
    model.train_accuracy = float(np.mean(np.sign(model.softness(X_tr)) == y_tr))
    model.test_accuracy = float(np.mean(np.sign(model.softness(X_te)) == y_te))
    return model
