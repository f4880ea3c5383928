"""Memberships of the observations: p(z_i = k | X) averaged over draws, MAP and sampled
assignments by ``infer_discrete`` on the model.

The membership probabilities are the component log joints log pi_k + log N(x_i | mu_k,
Sigma_k) of the engine (:func:`ppl_gmm.engine.gaussian.component_log_joint`, the one
implementation EM uses), normalised per row; the MAP (temperature 0) and sampled
(temperature 1) assignments come from `gmm_model` itself
(:func:`ppl_gmm.ppl.likelihood.discrete_assignments`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_data, check_params
from ..engine.gaussian import cholesky_factors, component_log_joint
from ..params import EMResult, GMMParams, VBResult
from ..ppl.likelihood import discrete_assignments
from ..ppl.model import params_to_sites
from .draws import MIXTURE_VARIABLES, padded_batches, posterior_draws
from .map_svi import SVIMAPResult
from .relabel import relabelled
from .variational import variational_draws

__all__ = ["Assignments", "posterior_assignments"]


class Assignments(NamedTuple):
    """Memberships of the observations, from the model.

    Attributes
    ----------
    probabilities : ndarray (n, K)
        p(z_i = k | X) averaged over the draws: the mean over draws s of the exact
        conditional p(z_i = k | x_i, theta_s) (the component log joints normalised
        over k), a Rao-Blackwellised estimate of the posterior membership probabilities.
    map : ndarray of int (n,)
        The most frequent of the per-draw MAP assignments (`map_by_draw`); at a
        single parameter value, the MAP assignment itself.
    map_by_draw : ndarray of int (S, n)
        ``argmax_z p(z | X, theta_s)`` by ``infer_discrete(temperature=0)``.
    sampled : ndarray of int (S, n)
        ``z ~ p(z | X, theta_s)`` by ``infer_discrete(temperature=1)``: with the draws
        theta_s, joint posterior draws of the assignments.
    """

    probabilities: np.ndarray
    map: np.ndarray
    map_by_draw: np.ndarray
    sampled: np.ndarray


# Three separate programs, not one: independent branches in one XLA:CPU program may run
# batched LAPACK calls concurrently (see :mod:`ppl_gmm.bayes.draws`).
@functools.partial(jax.jit, static_argnames=("batch_size",))
def _mean_responsibilities(weights, means, covariances, X, batch_size):
    def one_draw(draw):
        w, m, c = draw
        log_joint, _ = component_log_joint(X, w, m, cholesky_factors(c))
        return jax.nn.softmax(log_joint, axis=1)

    return jax.lax.map(one_draw, (weights, means, covariances), batch_size=batch_size)


@functools.partial(jax.jit, static_argnames=("n_components", "temperature", "batch_size"))
def _discrete_by_draw(weights, means, covariances, X, keys, n_components, temperature,
                      batch_size):
    def one_draw(draw):
        w, m, c, key = draw
        sites = params_to_sites(GMMParams(w, m, c), "full")
        return discrete_assignments(sites, X, n_components, temperature=temperature, key=key)

    return jax.lax.map(one_draw, (weights, means, covariances, keys), batch_size=batch_size)


def posterior_assignments(source, X, *, seed: int = 0, relabel: bool = True,
                          num_draws: int = 1000) -> Assignments:
    """Membership probabilities, MAP and sampled assignments, by the model.

    Parameters
    ----------
    source : arviz.InferenceData, VBResult, GMMParams, EMResult or SVIMAPResult
        Posterior draws (from :func:`ppl_gmm.bayes.nuts.sample_posterior` or
        :func:`ppl_gmm.sample_variational`), a variational posterior (averaged over
        `num_draws` draws from q), or one parameter value.
    X : array-like (n, d)
        The observations to assign.
    seed : int
        Seeds the sampled assignments.
    relabel : bool
        Relabel the draws first (:func:`ppl_gmm.bayes.relabel.relabel`) unless already
        done, so that component k means the same thing in every draw before averaging.
    num_draws : int
        Draws from q for a VBResult (q is unimodal: no relabelling is needed).

    Returns
    -------
    Assignments
    """
    X = check_data(X)
    if isinstance(source, VBResult):
        draws = variational_draws(source, num_draws, seed)
        weights, means, covariances = (draws[name] for name in MIXTURE_VARIABLES)
        k = weights.shape[-1]
    elif isinstance(source, az.InferenceData):
        source = relabelled(source, relabel)
        weights, means, covariances = posterior_draws(source.posterior)
        k, d = means.shape[-2:]
        weights = weights.reshape(-1, k)
        means = means.reshape(-1, k, d)
        covariances = covariances.reshape(-1, k, d, d)
    else:
        params = source.params if isinstance(source, (EMResult, SVIMAPResult)) else source
        params = check_params(params, n_features=X.shape[1])
        weights, means, covariances = (a[None] for a in params)
        k = params.n_components
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(seed), weights.shape[0]))
    (w, m, c, keys), batch, count = padded_batches((weights, means, covariances, keys))
    w, m, c, X_jax = (jnp.asarray(a, jnp.float64) for a in (w, m, c, X))
    resp = np.asarray(_mean_responsibilities(w, m, c, X_jax, batch))[:count]
    z_map, z_sampled = (
        np.asarray(_discrete_by_draw(w, m, c, X_jax, jnp.asarray(keys), k, t, batch))[:count]
        for t in (0, 1))
    counts = np.stack([(z_map == j).sum(axis=0) for j in range(k)], axis=1)
    return Assignments(
        probabilities=resp.mean(axis=0),
        map=np.argmax(counts, axis=1),
        map_by_draw=z_map,
        sampled=z_sampled,
    )
