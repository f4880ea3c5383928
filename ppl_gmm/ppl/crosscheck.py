"""EM checked against the probabilistic program: same numbers, and a stationary point.

`cross_check` replays the EM run behind a result (the same `em_step`, from the same
initial parameters), evaluates the model's enumerated log-likelihood (log joint under
a prior) at every iterate, and compares it with what EM recorded. It then takes the
gradient of that PPL objective, by ``jax.grad`` through `gmm_model`, with respect to
the model's unconstrained parameters at EM's optimum.

Why the gradient bound: EM stops when one step changes the objective by at most
delta = tol |objective|. Near a maximum with curvature H the objective gap and the
gradient satisfy |g|^2 ~ 2 H gap, and the gap is a few times delta (linear
convergence), with H growing like n. So the per-observation gradient norm of a
converged run is of order sqrt(tol * |objective| / n); the default bound is ten
times that (and 1e-6 at least). An unconverged run gets no gradient verdict.

Hard EM (``variant="hard"``) maximises the classification log-likelihood
max_z log p(X, z | theta): there the PPL side takes z_hat = argmax_z p(z | X, theta)
from the model itself (``infer_discrete`` at temperature 0) and evaluates
log p(X, z_hat, theta) with z conditioned on z_hat; the gradient is that of
log p(X, z_hat, theta) at fixed z_hat. With a fixed covariance (``fixed_variance``)
only the weights and means are free, so only their gradient is judged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to

from .._validation import check_data
from ..fit.driver import em_parameter_path
from ..params import EMResult
from .likelihood import discrete_assignments, model_log_density, run_model
from .model import params_to_sites


@dataclass(frozen=True)
class CrossCheck:
    """EM against the PPL for one fit.

    Attributes
    ----------
    em_objective, ppl_objective : ndarray (n_iter + 1,)
        EM's recorded objective and the model's at the replayed iterates.
    max_abs_difference, max_rel_difference : float
    rtol : float
        Tolerance on the relative difference.
    gradient_norm : float
        Euclidean norm of d(PPL objective)/d(unconstrained parameters) at the optimum.
    gradient_norm_per_observation : float
    gradient_tol : float
        Bound on the per-observation gradient norm (see the module docstring).
    converged : bool
        Whether the EM run converged (the gradient is judged only then).
    """

    em_objective: np.ndarray
    ppl_objective: np.ndarray
    max_abs_difference: float
    max_rel_difference: float
    rtol: float
    gradient_norm: float
    gradient_norm_per_observation: float
    gradient_tol: float
    converged: bool

    @property
    def likelihood_agrees(self) -> bool:
        return bool(self.max_rel_difference <= self.rtol)

    @property
    def stationary(self) -> bool | None:
        if not self.converged:
            return None
        return bool(self.gradient_norm_per_observation <= self.gradient_tol)

    @property
    def passed(self) -> bool:
        return self.likelihood_agrees and self.stationary is not False

    def __str__(self) -> str:
        station = {True: "yes", False: "NO", None: "not judged (EM did not converge)"}
        return "\n".join([
            f"EM vs PPL cross-check over {len(self.em_objective)} iterates: "
            f"{'PASS' if self.passed else 'FAIL'}",
            f"  max |EM - PPL|          {self.max_abs_difference:.3e} "
            f"(relative {self.max_rel_difference:.3e}, tolerance {self.rtol:.0e})",
            f"  |grad| / n at optimum   {self.gradient_norm_per_observation:.3e} "
            f"(bound {self.gradient_tol:.1e}): stationary {station[self.stationary]}",
        ])

    __repr__ = __str__


def unconstrained_transforms(sites: dict, X, n_components: int, covariance_type: str, prior):
    """The bijection to each parameter site's support, read off the model's own trace."""
    trace = run_model(sites, X, n_components=n_components, covariance_type=covariance_type,
                      prior=prior, key=jax.random.key(0))
    transforms = {}
    for name in sites:
        site = trace[name]
        if site["type"] == "param":
            support = site["kwargs"].get("constraint", constraints.real)
        else:
            support = site["fn"].support
        transforms[name] = biject_to(support)
    return transforms


def ppl_gradient(params, X, covariance_type: str = "full", prior=None):
    """Gradient of the model's log-likelihood (log joint) on unconstrained parameters.

    Returns
    -------
    dict
        Gradient per model site, in unconstrained coordinates.
    """
    k = np.shape(params.weights)[-1]
    sites = params_to_sites(_float64(params), covariance_type)
    return _ppl_gradient(sites, jnp.asarray(X, jnp.float64), prior, k, covariance_type)


def _float64(params):
    """Parameters as float64 JAX arrays (a float32 fit's params mix badly with float64 data)."""
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)


@functools.partial(jax.jit, static_argnames=("n_components", "covariance_type"))
def _ppl_gradient(sites, X, prior, n_components, covariance_type):
    transforms = unconstrained_transforms(sites, X, n_components, covariance_type, prior)
    free = {name: transforms[name].inv(value) for name, value in sites.items()}

    def objective(free):
        constrained = {name: transforms[name](value) for name, value in free.items()}
        return model_log_density(constrained, X, n_components, covariance_type, prior)

    return jax.grad(objective)(free)


@functools.partial(jax.jit, static_argnames=("n_components", "covariance_type"))
def _ppl_objective_along(path_sites, X, prior, n_components, covariance_type):
    def at(sites):
        return model_log_density(sites, X, n_components, covariance_type, prior)

    return jax.vmap(at)(path_sites)


@functools.partial(jax.jit, static_argnames=("n_components", "covariance_type"))
def _ppl_classification_along(path_sites, X, prior, n_components, covariance_type):
    def at(sites):
        z = discrete_assignments(sites, X, n_components, covariance_type, prior)
        return model_log_density(sites, X, n_components, covariance_type, prior, assignments=z)

    return jax.vmap(at)(path_sites)


@functools.partial(jax.jit, static_argnames=("n_components", "covariance_type"))
def _ppl_classification_gradient(sites, X, prior, n_components, covariance_type):
    z = discrete_assignments(sites, X, n_components, covariance_type, prior)
    transforms = unconstrained_transforms(sites, X, n_components, covariance_type, prior)
    free = {name: transforms[name].inv(value) for name, value in sites.items()}

    def objective(free):
        constrained = {name: transforms[name](value) for name, value in free.items()}
        return model_log_density(constrained, X, n_components, covariance_type, prior,
                                 assignments=z)

    return jax.grad(objective)(free)


def cross_check(result: EMResult, X, *, rtol: float = 1e-9,
                gradient_tol: float | None = None, **variational) -> CrossCheck:
    """Compare an EM fit with the PPL at every iteration, and test stationarity.

    Parameters
    ----------
    result : EMResult or VBResult
        From :func:`ppl_gmm.fit_em` on `X`; a :func:`ppl_gmm.fit_vb` result is checked by
        :func:`ppl_gmm.ppl.variational_check.variational_cross_check` instead (its ELBO
        against NumPyro's, in closed form and by ``Trace_ELBO``).
    X : array-like (n, d)
    rtol : float
        Allowed |EM - PPL| / |PPL| at each iterate (for VB: on the ELBO).
    gradient_tol : float, optional
        Bound on |grad| / n at the optimum; default from `result.tol` (module docstring).
        EM only.
    **variational
        VB only: ``num_particles``, ``seed``, ``z_tol`` of ``variational_cross_check``.

    Returns
    -------
    CrossCheck, or VariationalCrossCheck for a VBResult
    """
    if getattr(result, "is_variational", False):
        if gradient_tol is not None:
            raise TypeError("gradient_tol applies to EM results; a VB fit is judged on its ELBO.")
        # Imported here: variational_check is only needed for VB results.
        from .variational_check import variational_cross_check

        return variational_cross_check(result, X, rtol=rtol, **variational)
    if variational:
        raise TypeError(f"cross_check of an EM result takes no {sorted(variational)}.")
    X = check_data(X)
    n = X.shape[0]
    k = result.params.n_components
    ct = result.covariance_type
    path = em_parameter_path(result, X)
    path_sites = jax.vmap(lambda p: params_to_sites(p, ct))(jax.tree.map(jnp.asarray, path))
    prior = None if result.prior is None else jax.tree.map(jnp.asarray, result.prior)
    hard = result.options.variant == "hard"
    along = _ppl_classification_along if hard else _ppl_objective_along
    ppl = np.asarray(along(path_sites, jnp.asarray(X), prior, k, ct))
    em = np.asarray(result.history.objective)
    difference = np.abs(em - ppl)
    if hard:
        gradient = _ppl_classification_gradient(
            params_to_sites(_float64(result.params), ct), jnp.asarray(X),
            prior, k, ct)
    else:
        gradient = ppl_gradient(result.params, X, ct, prior)
    if result.options.fixed_variance is not None:
        gradient = {name: gradient[name] for name in ("weights", "means")}
    norm = float(np.sqrt(sum(float(jnp.sum(g**2)) for g in jax.tree.leaves(gradient))))
    if gradient_tol is None:
        gradient_tol = max(10.0 * np.sqrt(result.tol * abs(result.objective) / n), 1e-6)
    return CrossCheck(
        em_objective=em,
        ppl_objective=ppl,
        max_abs_difference=float(difference.max()),
        max_rel_difference=float(np.max(difference / np.abs(ppl))),
        rtol=rtol,
        gradient_norm=norm,
        gradient_norm_per_observation=norm / n,
        gradient_tol=float(gradient_tol),
        converged=result.converged,
    )
