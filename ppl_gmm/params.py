"""The public value types: mixture parameters, the EM history and the EM result.

`GMMParams` is a pytree (a NamedTuple), so it passes through `jit`, `vmap` and
`lax.while_loop` unchanged. Covariances are always full ``(K, d, d)`` matrices in
the public type, whatever the covariance structure that produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .structures.registry import get_structure


class GMMParams(NamedTuple):
    """Parameters of a K-component Gaussian mixture in d dimensions.

    Attributes
    ----------
    weights : array, shape (K,)
        Mixing proportions pi; non-negative, summing to one.
    means : array, shape (K, d)
        Component means mu_k.
    covariances : array, shape (K, d, d)
        Component covariance matrices Sigma_k, symmetric positive definite.
    """

    weights: Any
    means: Any
    covariances: Any

    @property
    def n_components(self) -> int:
        return int(np.shape(self.weights)[-1])

    @property
    def n_features(self) -> int:
        return int(np.shape(self.means)[-1])

    def to_numpy(self) -> GMMParams:
        """Copy to host NumPy arrays (keeps the dtype)."""
        return GMMParams(*(np.asarray(a) for a in self))


class EMHistory(NamedTuple):
    """Per-iteration trace of one EM run; entry t belongs to the parameters theta_t.

    Entry 0 is the initial parameters, entry ``n_iter`` the returned ones, so every
    array has ``n_iter + 1`` entries.

    Attributes
    ----------
    log_likelihood : ndarray
        log p(X | theta_t).
    objective : ndarray
        What EM maximises: the log-likelihood, or the log joint
        log p(X | theta_t) + log p(theta_t) under a prior. Never decreases.
    lower_bound : ndarray
        The EM lower bound L(q_{t-1}, theta_t) + log p(theta_t) with q_{t-1} the
        responsibilities of the previous E-step: the value the M-step maximised. It
        satisfies ``objective[t-1] <= lower_bound[t] <= objective[t]``. Entry 0 has no
        previous E-step and equals ``objective[0]``.
    lower_bound_after_e_step : ndarray
        L(q_t, theta_t) + log p(theta_t), computed from the sufficient statistics after
        the E-step at theta_t; the bound touches the objective there, so it equals
        ``objective[t]`` up to rounding (an independent computation, useful as a check).
    """

    log_likelihood: np.ndarray
    objective: np.ndarray
    lower_bound: np.ndarray
    lower_bound_after_e_step: np.ndarray


@dataclass(frozen=True)
class FitOptions:
    """The options of a fit that shape its result, beyond the model itself.

    Attributes
    ----------
    block_size : int
        Rows per E-step block.
    variant : {"soft", "hard"}
        EM, or classification EM.
    fixed_variance : float or None
        sigma^2 when every covariance was fixed at sigma^2 I (user units), else None.
    n_init : int
        Restarts.
    seed : int or None
        The seed of the initialisation (None when the start was given explicitly and
        no seed applies).
    """

    block_size: int = 4096
    variant: str = "soft"
    fixed_variance: float | None = None
    n_init: int = 1
    seed: int | None = 0


@dataclass(frozen=True)
class EMResult:
    """The outcome of :func:`ppl_gmm.fit_em`.

    Attributes
    ----------
    params : GMMParams
        The fitted parameters (NumPy arrays), full covariance matrices.
    log_likelihood : float
        log p(X | params), computed by the final E-step at `params`.
    objective : float
        The maximised objective: equal to `log_likelihood` without a prior, the log
        joint log p(X, params) under a prior.
    n_iter : int
        Number of EM iterations (M-steps) performed.
    converged : bool
        Whether the relative change of the objective fell below `tol`.
    responsibilities : ndarray, shape (n, K)
        p(z_i = k | x_i, params) from the final E-step.
    history : EMHistory
        The trace, ``n_iter + 1`` entries.
    initial_params : GMMParams
        The starting point (after any initial M-step); EM is deterministic from here.
    covariance_type : str
    prior : ResolvedPrior or None
        The prior with data-dependent defaults filled in, or None for maximum likelihood.
    reg_covar : float
    tol : float
    n_samples : int
    options : FitOptions
        Fit options that shape the result: ``block_size``, ``variant`` ("soft" or
        "hard"), ``fixed_variance`` (sigma^2 or None), ``n_init``, ``seed``.
    restarts : RestartTable or None
        Every restart of the fit (final objective, iterations, converged, failure
        reason), best marked; one row when n_init=1.

    Notes
    -----
    For ``variant="hard"`` (classification EM) `objective` and ``history.objective``
    are the classification log-likelihood sum_i max_k log(pi_k N(x_i | mu_k, Sigma_k))
    (+ log prior), while `log_likelihood`, ``history.log_likelihood`` and
    `responsibilities` remain the marginal (soft) quantities at each iterate.
    """

    params: GMMParams
    log_likelihood: float
    objective: float
    n_iter: int
    converged: bool
    responsibilities: np.ndarray
    history: EMHistory
    initial_params: GMMParams
    covariance_type: str
    prior: Any
    reg_covar: float
    tol: float
    n_samples: int
    options: FitOptions = field(default_factory=FitOptions, repr=False)
    restarts: Any = field(default=None, repr=False)

    @property
    def labels(self) -> np.ndarray:
        """Most responsible component of each observation, shape (n,)."""
        return np.argmax(self.responsibilities, axis=1)

    @property
    def decomposition(self):
        """Each component's Sigma_k = lambda_k D_k A_k D_k^T in the model's terms (mclust's
        ``parameters$variance``): a :class:`ppl_gmm.structures.parsimonious.Decomposition`
        of NumPy arrays, volume (K,), shape (K, d) with |A_k| = 1, orientation (K, d, d)."""
        parts = get_structure(self.covariance_type).decomposition(
            np.asarray(self.params.covariances, np.float64))
        return type(parts)(*(np.asarray(a) for a in parts))

    @property
    def n_parameters(self) -> int:
        """Number of free parameters of the fitted model (weights, means, covariances).

        With a fixed covariance (``options.fixed_variance``) only weights and means count.
        """
        k, d = np.shape(self.params.means)
        if self.options.fixed_variance is not None:
            return (k - 1) + k * d
        return get_structure(self.covariance_type).n_parameters(k, d)

    @property
    def bic(self) -> float:
        """BIC = -2 log L + p log n; lower is better (scikit-learn's sign).

        mclust reports ``-bic`` (higher is better).
        """
        return float(-2.0 * self.log_likelihood + self.n_parameters * np.log(self.n_samples))

    @property
    def aic(self) -> float:
        """AIC = -2 log L + 2 p; lower is better."""
        return float(-2.0 * self.log_likelihood + 2.0 * self.n_parameters)


# ------------------------------------------------------------ variational Bayes


class VariationalPosterior(NamedTuple):
    """The factors q(pi) q(mu, Lambda) of variational Bayesian EM (:func:`ppl_gmm.fit_vb`).

    q(pi) is Dirichlet(alpha) (``weight_prior="dirichlet_distribution"``) or, for the
    stick-breaking weights pi_k = v_k prod_{j<k} (1 - v_j), prod_k Beta(v_k | a_k, b_k)
    (``"dirichlet_process"``). q(mu_k, Lambda_k) = N(mu_k | m_k, (beta_k Lambda_k)^-1)
    q(Lambda_k): Wishart(nu_k, W_k) with W_k = Psi_k^-1 for a full matrix (Bishop's
    Normal-Wishart; equivalently Sigma_k ~ inverse-Wishart(nu_k, Psi_k)), a Gamma(nu_k / 2,
    Psi_k,jj / 2) on each precision of a diagonal, Gamma(nu_k / 2, s_k / 2) on the one
    precision of a spherical model (Psi_k = s_k I). A shared structure ("tied", ...) has
    one q(Lambda), repeated in every component's row.

    Attributes
    ----------
    weight_concentration : (K,) alpha, or (2, K) the sticks' (a_k, b_k)
    mean_precision : (K,) beta_k (scikit-learn's ``mean_precision_``)
    means : (K, d) m_k
    degrees_of_freedom : (K,) nu_k
    scale_matrices : (K, d, d) Psi_k = W_k^-1; E[Lambda_k] = nu_k Psi_k^-1
    """

    weight_concentration: Any
    mean_precision: Any
    means: Any
    degrees_of_freedom: Any
    scale_matrices: Any


class VBHistory(NamedTuple):
    """Per-iteration trace of one variational run; entry t belongs to q_t.

    Attributes
    ----------
    elbo : ndarray
        The ELBO after the E-step at q_t(theta): never decreases.
    lower_bound : ndarray
        The ELBO of q_t(theta) with the previous E-step's q_{t-1}(z): the value the
        q(theta) update maximised, ``elbo[t-1] <= lower_bound[t] <= elbo[t]``. Entry 0
        equals ``elbo[0]``.
    """

    elbo: np.ndarray
    lower_bound: np.ndarray


@dataclass(frozen=True)
class VBResult:
    """The outcome of :func:`ppl_gmm.fit_vb`: a variational posterior over the mixture.

    Attributes
    ----------
    posterior : VariationalPosterior
        q(pi) q(mu, Lambda) in the user's units (NumPy arrays).
    params : GMMParams
        Expected weights E_q[pi], the means m_k and the covariances Psi_k / nu_k =
        E_q[Lambda_k]^-1 (scikit-learn's ``weights_``, ``means_``, ``covariances_``; the
        posterior mean of Sigma_k is :attr:`expected_covariances`).
    elbo : float
        The final evidence lower bound (a lower bound on log p(X) under the model, for
        stick-breaking weights on the event that every z_i <= K).
    n_iter : int
        CAVI iterations (q(theta) updates after the first).
    converged : bool
    responsibilities : ndarray (n, K)
        q(z_i = k) at the final q(theta).
    history : VBHistory
    covariance_type : str
    weight_prior : {"dirichlet_process", "dirichlet_distribution"}
    prior : ResolvedPrior
        The prior in the user's units; ``concentration`` holds the weight concentration
        (alpha0 per component, or the stick-breaking gamma repeated K times).
    reg_covar, tol : float
    n_samples : int
    options : FitOptions
    restarts : RestartTable or None
        Every restart's final ELBO, iterations and status (objective named "elbo").
    """

    posterior: VariationalPosterior
    params: GMMParams
    elbo: float
    n_iter: int
    converged: bool
    responsibilities: np.ndarray
    history: VBHistory
    covariance_type: str
    weight_prior: str
    prior: Any
    reg_covar: float
    tol: float
    n_samples: int
    options: FitOptions = field(default_factory=FitOptions, repr=False)
    restarts: Any = field(default=None, repr=False)

    #: Results of variational Bayes are marked so that functions taking EM or VB results
    #: (cross_check, plots) can tell them apart.
    is_variational = True

    @property
    def objective(self) -> float:
        """The maximised objective: the ELBO."""
        return self.elbo

    @property
    def labels(self) -> np.ndarray:
        """Most responsible component of each observation, shape (n,)."""
        return np.argmax(self.responsibilities, axis=1)

    def active_components(self, threshold: float = 0.01) -> np.ndarray:
        """Indices of the components whose expected weight exceeds `threshold` (the ones
        that did not switch off)."""
        return np.flatnonzero(np.asarray(self.params.weights) > threshold)

    @property
    def n_active(self) -> int:
        """Components carrying more than 1% of the expected weight."""
        return int(self.active_components().size)

    @property
    def expected_covariances(self) -> np.ndarray:
        """E_q[Sigma_k] (K, d, d): Psi_k / (nu_k - d - 1) for an inverse-Wishart q (full,
        tied), Psi_k,jj / (nu_k - 2) per variance otherwise; ValueError where it does not
        exist (nu_k too small)."""
        structure = get_structure(self.covariance_type)
        dof = np.asarray(self.posterior.degrees_of_freedom, np.float64)
        d = np.shape(self.params.means)[-1]
        excess = dof - d - 1 if structure.form == "matrix" else dof - 2
        if np.any(excess <= 0):
            raise ValueError(
                "E_q[Sigma] does not exist: the posterior degrees of freedom are too small "
                f"(nu = {dof.min():.3g}); use params.covariances = E_q[Lambda]^-1 instead.")
        return np.asarray(self.posterior.scale_matrices) / excess[:, None, None]

    @property
    def precision_scale(self) -> np.ndarray:
        """W_k = Psi_k^-1 (K, d, d), the Wishart scale of q(Lambda_k) (PRML's W_k)."""
        scale = np.asarray(self.posterior.scale_matrices, np.float64)
        eye = np.broadcast_to(np.eye(scale.shape[-1]), scale.shape)
        return np.linalg.solve(scale, eye)
