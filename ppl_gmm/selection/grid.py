"""EM for any (K, structure) cell of a model-selection grid from one compiled program.

Model selection fits the same data with K = 1..9 under four covariance structures,
several restarts each. Compiling `fit_em` once per (K, structure) costs seconds each;
here every cell is the same program:

- **K is data, not shape.** Every fit carries ``K_max`` components; a boolean mask says
  which are live. Masked components have weight exactly 0 (``log 0 = -inf`` in the
  E-step gives them responsibility exactly 0), mean 0 and identity covariance, and the
  M-step puts them back there, so a live component sees exactly the statistics of a
  K-component fit.
- **The structure is data, not a static argument.** The M-step is a ``lax.switch`` over
  every registered structure's :func:`ppl_gmm.engine.mstep.m_step`, the index a traced
  scalar, so one program serves them all (each structure with its own coordinates, see
  :func:`ppl_gmm.fit.driver.make_problem`).
- **Restarts are one batch** (:func:`ppl_gmm.engine.schedule.run_lockstep`); each (K,
  structure) cell is one call of the same compiled program.

The pieces are the engine's: the EM kernel (:func:`ppl_gmm.engine.kernel.gaussian_em_kernel`)
with its M-step replaced by the masked one, run by the restart scheduler; only the
masking is new. The
initialisations match :mod:`ppl_gmm.fit.init`'s for the live K exactly (JAX's partitionable
key splitting makes the first K of K_max k-means++ centres the K-centre draw), so a cell
is the same fit as ``fit_em(X, K, covariance_type=..., n_init=..., seed=...)`` and does
not depend on the other K values in the grid.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ..engine.kernel import EMProblem, EMState, EMTrace, gaussian_em_kernel, masked
from ..engine.mstep import m_step
from ..engine.schedule import run_lockstep
from ..engine.statistics import block_responsibilities
from ..fit.init import (
    PADDABLE_INITIALISERS,
    padded_initial_params,
    params_from_responsibilities,
    project_covariance,
)
from ..fit.program import COMPILER_OPTIONS
from ..params import GMMParams
from ..structures.registry import COVARIANCE_TYPES

GRID_INITS = tuple(PADDABLE_INITIALISERS)

def _switch(structures, structure_index, function, *operands):
    """``function(covariance_type, *operands)`` for the structure at a traced index."""
    branches = [functools.partial(function, name) for name in structures]
    if len(branches) == 1:
        return branches[0](*operands)
    return lax.switch(structure_index, branches, *operands)


def _m_step_any(moments, structures, structure_index, prior, reg_covar,
                n_active) -> GMMParams:
    """The M-step of the structure at a traced index, counting `n_active` live components."""
    return _switch(structures, structure_index,
                   lambda name, m, p, r, a: m_step(m, name, p, r, n_components=a),
                   moments, prior, reg_covar, n_active)


# ------------------------------------------------------------------ the loop


def masked_em_kernel(problem: EMProblem, mask, structure_index, structures=COVARIANCE_TYPES):
    """Maximum-likelihood EM with the components outside `mask` held dead.

    The Gaussian EM kernel (soft EM, no prior), its M-step replaced by the structure
    switch followed by the mask.
    """
    n_active = jnp.sum(mask)

    def update(moments, previous) -> GMMParams:
        params = _m_step_any(moments, structures, structure_index, None, problem.reg_covar,
                             n_active)
        return masked(params, mask)

    return gaussian_em_kernel(problem._replace(component_mask=mask), update=update)


class CellFit(NamedTuple):
    """Every restart of one (K, structure) cell.

    Attributes
    ----------
    initial_params : GMMParams
        Starting points, leading restart axis, internal coordinates, padded to K_max
        (dead components: weight 0).
    state : EMState
        Final EM state of every restart (leading restart axis).
    trace : EMTrace
        Trace buffers of every restart, (n_init, max_iter + 1) each.
    best : int scalar
        The restart with the highest objective among those that did not fail (-1 if
        all failed; :func:`ppl_gmm.fit.restarts.best_restart`'s rule).
    responsibilities : (rows, K_max)
        The best restart's, rows padded to whole blocks.
    """

    initial_params: GMMParams
    state: EMState
    trace: EMTrace
    best: jnp.ndarray
    responsibilities: jnp.ndarray


@functools.partial(jax.jit, static_argnames=("max_iter", "init", "structures"),
                   compiler_options=COMPILER_OPTIONS)
def fit_cell(problem: EMProblem, keys, n_active, width, structure_index, partition=None, *,
             max_iter: int, init: str, structures: tuple = COVARIANCE_TYPES) -> CellFit:
    """Fit one (K, structure) cell: every restart, as one batch.

    One compiled program serves every K <= K_max and every structure (both are traced
    arguments), so a whole grid compiles once. Cells run one call each rather than all
    K in one batch: a batched while loop runs until its slowest member stops, and the
    large K take several times as many iterations as the small ones.

    Parameters
    ----------
    problem : EMProblem
        From :func:`ppl_gmm.fit.driver.make_problem` for this structure (no prior).
    keys : key array (n_init,)
        One key per restart, shared by every K (as ``fit_em(..., seed)`` shares its
        key across K): :func:`ppl_gmm.fit.restarts.restart_keys`.
    n_active : int scalar
        K.
    width : array (K_max,)
        Only its length is used: the padded number of components (a shape, so the
        program is reused for any K up to K_max).
    structure_index : int scalar
        Index into `structures`.
    partition : array (rows, K_max) or None
        One-hot memberships of a partition (rows of the padded blocks; all zero for
        padding and for rows outside it): restart 0 starts from its maximum-likelihood
        M-step (mclust's hierarchical start, :func:`ppl_gmm.fit.init.params_from_partition`
        in the internal coordinates, where it is the same fit), the other restarts are
        drawn by `init` from ``keys[1:]``.
    max_iter : int
    init : {"kmeans++", "random_from_data"}
    structures : tuple of str
        The structures the program can switch between (static): the grid's, so that a
        grid of four structures compiles four M-steps, not every registered one.
    """
    k_max = width.shape[0]
    d = problem.X_blocks.shape[-1]
    X = problem.X_blocks.reshape(-1, d)
    w = problem.w_blocks.reshape(-1)
    mask = jnp.arange(k_max) < n_active

    def m_step_at(moments, index, prior, reg_covar, n_components):
        return _m_step_any(moments, structures, index, prior, reg_covar, n_components)

    def project_at(covariance, index):
        return _switch(structures, index, lambda name, c: project_covariance(c, name),
                       covariance)

    def starting_point(key):
        start = padded_initial_params(init, key, X, w, n_active, mask, structure_index,
                                      m_step_at, project_at)
        # Regularised as fit_em's initial M-step is (ppl_gmm.fit.driver._regularised).
        start = start._replace(covariances=start.covariances + jnp.diag(problem.reg_covar))
        return masked(start, mask)

    # lax.map draws the starting points one restart at a time (the random sampling then
    # compiles unbatched, several times faster); EM runs the restarts as one batch.
    if partition is None:
        start = lax.map(starting_point, keys)
    else:
        given = params_from_responsibilities(X, w, partition, structure_index, n_active,
                                             m_step_at, regularise=False)
        first = jax.tree.map(lambda a: a[None], masked(given, mask))
        start = first if keys.shape[0] == 1 else jax.tree.map(
            lambda a, b: jnp.concatenate([a, b]), first, lax.map(starting_point, keys[1:]))
    kernel = masked_em_kernel(problem, mask, structure_index, structures)
    state, trace = run_lockstep(kernel, start, max_iter)
    usable = (state.failed_component < 0) & jnp.isfinite(state.objective)
    best = jnp.argmax(jnp.where(usable, state.objective, -jnp.inf))
    responsibilities = block_responsibilities(
        problem.X_blocks, jax.tree.map(lambda a: a[best], state.params), problem.n_blocks)
    return CellFit(start, state, trace, jnp.where(jnp.any(usable), best, -1), responsibilities)
