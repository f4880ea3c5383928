"""`GaussianMixture`: a scikit-learn estimator over :func:`ppl_gmm.fit_em`.

It speaks scikit-learn's language (parameter and attribute names, shapes per
covariance structure, `fit` / `predict` / `score_samples` / `bic` ...) so it drops
into pipelines, grid searches and ``clone``; the fitting itself is `fit_em`, and the
full :class:`ppl_gmm.EMResult` of the last fit is kept as ``result_``.

Differences from :class:`sklearn.mixture.GaussianMixture`, all deliberate:

- ``tol`` is `fit_em`'s **relative** criterion: EM stops when the change of the
  total objective is at most ``tol`` times its size (on the standardised scale, see
  :func:`ppl_gmm.fit_em`). scikit-learn stops on the *absolute* change of the
  per-sample mean, ``|obj_t - obj_{t-1}| / n < tol``. A scikit-learn ``tol`` t
  corresponds to ours t / |m|, m the mean standardised log-density per sample
  (about -1.4 d for d roughly Gaussian features). The default 1e-4 is a little
  tighter than scikit-learn's 1e-3 in a few dimensions: on Old Faithful it runs
  about as many iterations as scikit-learn, a few more.
- ``init_params`` takes scikit-learn's names, mapped onto ppl_gmm's initialisers
  (``"kmeans"`` -> ``"kmeans"``: Lloyd's k-means, ``"k-means++"`` -> ``"kmeans++"``:
  k-means++ seeding and one hard assignment, ``"random"`` -> ``"random_resp"``:
  random responsibilities, ``"random_from_data"`` -> ``"random_from_data"``), or any
  name of ``ppl_gmm.fit.init.INITIALISERS`` directly.
- ``prior`` (ours): a :class:`ppl_gmm.Prior` turns the fit into MAP-EM.
- ``lower_bound_`` is the per-sample objective at the returned parameters (the
  log-likelihood divided by n without a prior) and ``lower_bounds_`` its history,
  ``n_iter_ + 1`` entries from the initial parameters to the returned ones.
- ``verbose`` prints after the fit: EM runs inside one ``lax.while_loop``, with no
  host round trip per iteration, so the lines come from the recorded history.
- Non-convergence warns with scikit-learn's ``ConvergenceWarning`` class.
- float32 data give float32 fitted attributes, as scikit-learn's do, but the fit itself
  runs in float64 (:func:`ppl_gmm.fit_em`'s ``dtype``). `score_samples` and
  `predict_proba` also compute in float64 and return the dtype scikit-learn's would:
  the promotion of the input's dtype with the fitted parameters' (float32 data scored
  by a model fitted on float32 data give float32).
- ``covariance_type`` takes every structure of the registry
  (:data:`ppl_gmm.structures.registry.COVARIANCE_TYPES`, by ppl_gmm's or mclust's
  name), not only scikit-learn's four; the shape of ``covariances_`` (and of
  ``precisions_``, ``precisions_cholesky_``, ``precisions_init``) is the structure's
  ``site_shape``: e.g. (d,) for "EEI", () for "EII".
- ``max_iter=0`` returns the initialisation (after one E-step), as scikit-learn does.
"""

from __future__ import annotations

import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import check_n_components, check_positive_int, check_positive_number
from .engine.gaussian import cholesky_factors, component_log_joint
from .fit.driver import ConvergenceWarning, fit_em, initial_parameters
from .fit.init import HIERARCHICAL_INIT, INITIALISERS
from .params import GMMParams
from .structures.registry import CovarianceStructure, get_structure, n_parameters

__all__ = ["SKLEARN_INIT_PARAMS", "GaussianMixture", "component_log_joint_jit",
           "component_log_joint_padded"]

#: scikit-learn's ``init_params`` names and the ppl_gmm initialiser each one maps to.
SKLEARN_INIT_PARAMS = {
    "kmeans": "kmeans",
    "k-means++": "kmeans++",
    "random": "random_resp",
    "random_from_data": "random_from_data",
}

# Rows are zero-padded to the next power of two (at least this many) before the
# jitted scoring function, so predicting on many batch sizes compiles a handful of
# programs instead of one per size.
_MIN_SCORE_ROWS = 16


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM (:func:`ppl_gmm.fit_em`), scikit-learn compatible.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : str, default="full"
        A structure of :data:`ppl_gmm.structures.registry.COVARIANCE_TYPES`:
        scikit-learn's "full", "tied", "diag", "spherical", or mclust's "EEI", "EII"
        (mclust's names of the other four are accepted too).
    tol : float, default=1e-4
        Relative change of the objective that stops EM, as in :func:`ppl_gmm.fit_em`
        (not scikit-learn's absolute per-sample change; see the module docstring).
    reg_covar : float, default=1e-6
        Added to every covariance diagonal after each M-step, in the data's units.
    max_iter : int, default=100
        0 returns the initialisation (scikit-learn's rule).
    n_init : int, default=1
        Restarts from independent initialisations (run as one batch); the best
        objective wins.
    init_params : str, default="kmeans"
        scikit-learn's names ("kmeans", "k-means++", "random", "random_from_data") or
        a ppl_gmm initialiser name, "hc" among them (mclust's hierarchical start).
    weights_init : array (K,), optional
    means_init : array (K, d), optional
    precisions_init : array, optional
        The shape of `covariances_`: (K, d, d) full, (d, d) tied, (K, d) diag,
        (K,) spherical, (d,) EEI, () EII (the structure's ``site_shape``).
        Any of the three replaces that part of the `init_params` initialisation
        (scikit-learn's rule: the covariances then still come from the initialiser).
    random_state : int, RandomState or None, default=None
        An int is used as `fit_em`'s seed directly.
    warm_start : bool, default=False
        Start the next `fit` from the current solution (one run, no restarts).
    verbose : int, default=0
        1: a summary line after each fit; 2: also the objective every
        `verbose_interval` iterations, read from the recorded history.
    verbose_interval : int, default=10
    prior : ppl_gmm.Prior or None, default=None
        None: maximum likelihood. A Prior: MAP-EM (the objective is the log joint).

    Attributes
    ----------
    weights_ : (K,)
    means_ : (K, d)
    covariances_ : (K, d, d) full, (d, d) tied, (K, d) diag, (K,) spherical, (d,) EEI,
        () EII: the structure's ``site_shape(K, d)``
    precisions_ : same shapes as `covariances_`, their inverses
    precisions_cholesky_ : same shapes; upper-triangular L^{-T} with Sigma = L L^T for a
        matrix structure, 1 / sqrt(variance) for a diagonal or scalar one
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Objective per sample at the returned parameters.
    lower_bounds_ : ndarray (n_iter_ + 1,)
        Objective per sample at every iterate.
    result_ : ppl_gmm.EMResult
        Everything `fit_em` returned (history, responsibilities, initial parameters).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X had string column names
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-4,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        prior=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.prior = prior

    # ----------------------------------------------------------------- fitting

    def fit(self, X, y=None):
        """Fit the mixture to X by EM. `y` is ignored.

        Returns
        -------
        self
        """
        self._fit(X)
        return self

    def fit_predict(self, X, y=None):
        """Fit, then label X from the final E-step; equal to ``fit(X).predict(X)``."""
        return self._fit(X).labels

    def _fit(self, X):
        # float32 data keep float32 fitted attributes, as in scikit-learn (fit_em computes
        # in float64 either way and casts its result at the end).
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        n, d = X.shape
        k = check_n_components(self.n_components, n)
        get_structure(self.covariance_type)
        tol = check_positive_number(self.tol, "tol", allow_zero=True)
        reg_covar = check_positive_number(self.reg_covar, "reg_covar", allow_zero=True)
        max_iter = check_positive_int(self.max_iter, "max_iter", allow_zero=True)
        n_init = check_positive_int(self.n_init, "n_init")
        check_positive_int(self.verbose_interval, "verbose_interval")
        seed = self._seed()
        if self.warm_start and hasattr(self, "result_"):
            if self.result_.params.means.shape != (k, d):
                raise ValueError(
                    f"warm_start=True continues a fit with K={self.result_.params.n_components}, "
                    f"d={self.result_.params.n_features}; it cannot start K={k}, d={d}. Set "
                    "warm_start=False to start afresh."
                )
            init, n_init = self.result_.params, 1
        else:
            init = self._initialisation(X, k, n_init, seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            result = fit_em(
                X, k, covariance_type=self.covariance_type, prior=self.prior, init=init,
                seed=seed, tol=tol, max_iter=max_iter, reg_covar=reg_covar, n_init=n_init,
            )
        _reissue(caught)
        self._set_fitted(result)
        if self.verbose:
            self._report(result)
        return result

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral) and not isinstance(
            self.random_state, bool
        ):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _initialisation(self, X, k, n_init, seed):
        """What `fit_em` starts from: an initialiser name, or starting points with the
        user's weights_init / means_init / precisions_init in place of the drawn ones."""
        name = _initialiser_name(self.init_params)
        overrides = _check_initial_parts(self, k, X.shape[1])
        if not overrides:
            return name
        base = initial_parameters(X, k, init=name, seed=seed,
                                  covariance_type=self.covariance_type, n_init=n_init,
                                  reg_covar=self.reg_covar)
        return base._replace(**{part: np.broadcast_to(value, np.shape(getattr(base, part))).copy()
                                for part, value in overrides.items()})

    def _set_fitted(self, result) -> None:
        params = result.params
        n = result.n_samples
        self.result_ = result
        self.weights_ = np.asarray(params.weights).copy()
        self.means_ = np.asarray(params.means).copy()
        structure = get_structure(self.covariance_type)
        self.covariances_ = to_sklearn_covariances(params.covariances, structure)
        self.precisions_cholesky_ = precisions_cholesky(self.covariances_, structure)
        self.precisions_ = precisions_from_cholesky(self.precisions_cholesky_, structure)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.objective) / n
        self.lower_bounds_ = np.asarray(result.history.objective) / n

    def _report(self, result) -> None:
        objective = result.history.objective
        n = result.n_samples
        if self.verbose >= 2:
            for t in range(0, result.n_iter + 1, self.verbose_interval):
                change = objective[t] - objective[t - 1] if t else float("nan")
                print(f"  Iteration {t:>5}\t objective/n {objective[t] / n:.8f}\t "
                      f"change {change:.3e}")
        state = "converged" if result.converged else "did not converge"
        print(f"EM {state} after {result.n_iter} iterations; objective/n = "
              f"{result.objective / n:.8f}")

    # -------------------------------------------------------------- prediction

    def _params(self) -> GMMParams:
        check_is_fitted(self, "result_")
        return self.result_.params

    def _component_log_joint(self, X) -> tuple[np.ndarray, np.dtype]:
        """log pi_k + log N(x_i | mu_k, Sigma_k), shape (n, K), in float64; and the dtype
        scikit-learn would return (the input's promoted with the fitted parameters')."""
        params = self._params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        dtype = np.result_type(X.dtype, self.means_.dtype)
        return component_log_joint_padded(params, X), dtype

    def score_samples(self, X):
        """log p(x_i) under the fitted mixture, shape (n,)."""
        log_joint, dtype = self._component_log_joint(X)
        return logsumexp(log_joint, axis=1).astype(dtype, copy=False)

    def score(self, X, y=None):
        """Mean log-likelihood per sample."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X):
        """Membership probabilities p(z_i = k | x_i), shape (n, K)."""
        log_joint, dtype = self._component_log_joint(X)
        return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True)).astype(
            dtype, copy=False)

    def predict(self, X):
        """Most probable component of each row, shape (n,)."""
        return np.argmax(self._component_log_joint(X)[0], axis=1)

    def sample(self, n_samples=1):
        """Draw from the fitted mixture through `gmm_model` (:func:`ppl_gmm.sample`).

        Returns
        -------
        X : ndarray (n_samples, d)
        y : ndarray (n_samples,), the component of each draw
        """
        params = self._params()
        try:
            n_samples = check_positive_int(n_samples, "n_samples")
        except ValueError as error:  # scikit-learn's opening words, then ours
            raise ValueError(f"Invalid value for 'n_samples': {error}") from None
        from .ppl.sampling import sample as sample_mixture  # NumPyro on first use

        return sample_mixture(params, n_samples, seed=self._seed())

    # -------------------------------------------------------- model selection

    def _n_parameters(self) -> int:
        k, d = self._params().means.shape
        return n_parameters(self.covariance_type, k, d)

    def bic(self, X):
        """BIC = -2 log L(X) + p log n; lower is better (mclust reports the negative)."""
        n = np.shape(X)[0]
        return float(-2.0 * self.score(X) * n + self._n_parameters() * np.log(n))

    def aic(self, X):
        """AIC = -2 log L(X) + 2 p; lower is better."""
        n = np.shape(X)[0]
        return float(-2.0 * self.score(X) * n + 2.0 * self._n_parameters())


# --------------------------------------------------------------------- helpers


def _reissue(caught) -> None:
    """Re-warn what `fit_em` warned; its non-convergence as scikit-learn's class."""
    for w in caught:
        category = SklearnConvergenceWarning if issubclass(w.category,
                                                           ConvergenceWarning) else w.category
        warnings.warn(category(str(w.message)), stacklevel=3)


def _initialiser_name(init_params) -> str:
    if isinstance(init_params, str):
        name = SKLEARN_INIT_PARAMS.get(init_params, init_params)
        if name in INITIALISERS or name == HIERARCHICAL_INIT:
            return name
    known = sorted(set(SKLEARN_INIT_PARAMS) | set(INITIALISERS) | {HIERARCHICAL_INIT})
    raise ValueError(
        f"init_params={init_params!r} is not known; use one of {', '.join(map(repr, known))}."
    )


def _check_initial_parts(estimator, k: int, d: int) -> dict:
    """Validate weights_init / means_init / precisions_init; the GMMParams parts they set.

    Every error names the user's argument, never the GMMParams field it becomes.
    """
    parts = {}
    if estimator.weights_init is not None:
        weights = _as_float_array(estimator.weights_init, "weights_init", (k,))
        if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-6):
            raise ValueError(
                f"weights_init must be non-negative and sum to 1 (sum {weights.sum():.8g}); "
                "divide it by its sum."
            )
        parts["weights"] = weights / weights.sum()
    if estimator.means_init is not None:
        parts["means"] = _as_float_array(estimator.means_init, "means_init", (k, d))
    if estimator.precisions_init is not None:
        structure = get_structure(estimator.covariance_type)
        precisions = _as_float_array(estimator.precisions_init, "precisions_init",
                                     structure.site_shape(k, d))
        parts["covariances"] = _covariances_from_precisions(precisions, structure, k, d)
    return parts


def _as_float_array(value, name: str, shape) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers of shape {tuple(shape)}.") from None
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf.")
    return array


def _covariances_from_precisions(precisions, structure: CovarianceStructure, k: int,
                                 d: int) -> np.ndarray:
    """Full (K, d, d) covariances from precisions shaped as `covariances_`.

    A matrix precision P = L L^T gives Sigma = L^{-T} L^{-1} by a triangular solve; a
    diagonal or scalar one its reciprocal. Errors name ``precisions_init``.
    """
    what = f"precisions_init (covariance_type={structure.name!r})"
    if structure.form == "matrix":
        transposed = np.swapaxes(precisions, -1, -2)
        if not np.allclose(precisions, transposed):  # scikit-learn's tolerance
            raise ValueError(f"{what} must be symmetric, positive-definite; it is not "
                             "symmetric (symmetrise it with (P + P.T) / 2).")
        try:
            lower = np.linalg.cholesky((precisions + transposed) / 2.0)
        except np.linalg.LinAlgError:
            raise ValueError(f"{what} must be symmetric, positive-definite; it is not "
                             "positive-definite.") from None
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused below
            inverse = _triangular_inverse(lower)
            site = np.swapaxes(inverse, -1, -2) @ inverse
            site = (site + np.swapaxes(site, -1, -2)) / 2.0
    else:
        if np.any(precisions <= 0):
            raise ValueError(f"{what} must be positive (inverse variances).")
        with np.errstate(over="ignore", divide="ignore"):
            site = 1.0 / precisions
    covariances = np.array(structure.covariances_from_site(site, k, d))
    if not np.all(np.isfinite(covariances)):
        raise ValueError(f"{what} has values so close to 0 that the covariances (their "
                         "inverses) overflow float64; rescale the data or the precisions.")
    try:
        np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ValueError(f"{what} is numerically singular: the covariances it gives are not "
                         "positive definite in float64; use a better conditioned start.") from None
    return covariances


def _triangular_inverse(lower) -> np.ndarray:
    """L^{-1} for lower-triangular (..., d, d) L, by a triangular solve."""
    eye = np.broadcast_to(np.eye(lower.shape[-1], dtype=lower.dtype), lower.shape)
    return solve_triangular(lower, eye, lower=True)


def to_sklearn_covariances(covariances, covariance_type) -> np.ndarray:
    """Full (K, d, d) covariances -> ``covariances_`` of the structure (its site value,
    of shape ``site_shape(K, d)``)."""
    structure = get_structure(covariance_type)
    return np.array(structure.site_from_covariances(np.asarray(covariances)))


def precisions_cholesky(covariances, covariance_type) -> np.ndarray:
    """scikit-learn's ``precisions_cholesky_`` from its ``covariances_``.

    Matrix structures: P = L^{-T} (upper triangular) with Sigma = L L^T, by a triangular
    solve; diagonal and scalar ones: 1 / sqrt(variance).
    """
    structure = get_structure(covariance_type)
    covariances = np.asarray(covariances)
    if structure.form == "matrix":
        return np.swapaxes(_triangular_inverse(np.linalg.cholesky(covariances)), -1, -2)
    return np.asarray(1.0 / np.sqrt(covariances))


def precisions_from_cholesky(precisions_chol, covariance_type) -> np.ndarray:
    """Precision matrices (or inverse variances) from their Cholesky factors."""
    precisions_chol = np.asarray(precisions_chol)
    if get_structure(covariance_type).form == "matrix":
        return precisions_chol @ np.swapaxes(precisions_chol, -1, -2)
    return np.asarray(precisions_chol**2)


@jax.jit
def component_log_joint_jit(X, weights, means, covariances):
    """log pi_k + log N(x_i | mu_k, Sigma_k), shape (n, K), for full (K, d, d) covariances:
    the package's one component log joint (:func:`ppl_gmm.engine.gaussian.
    component_log_joint`), jitted once here for scoring."""
    # Centre on the mixture's mean first: x - mu is then formed from numbers of the
    # data's spread, not of its offset from the origin.
    centre = weights @ means
    factors = cholesky_factors(covariances)
    log_joint, _ = component_log_joint(X - centre, weights, means - centre, factors)
    return log_joint


def component_log_joint_padded(params: GMMParams, X: np.ndarray) -> np.ndarray:
    """log pi_k + log N(x_i | mu_k, Sigma_k) for every row of X, shape (n, K), float64.

    Rows are padded to a power of two so that the jitted program is reused across
    batch sizes.
    """
    n = X.shape[0]
    rows = max(_MIN_SCORE_ROWS, 1 << (n - 1).bit_length())
    padded = np.zeros((rows, X.shape[1]), np.float64)
    padded[:n] = X
    log_joint = component_log_joint_jit(
        jnp.asarray(padded), *(jnp.asarray(a, dtype=jnp.float64) for a in params))
    return np.asarray(log_joint)[:n]
