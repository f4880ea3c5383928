"""Covariance structures: one registry entry owns everything a structure decides.

A structure constrains the component covariances Sigma_k. Its entry says

- **its names**: ppl_gmm's (scikit-learn's where scikit-learn has the model) and mclust's
  (volume / shape / orientation: Banfield & Raftery 1993, Celeux & Govaert 1995);
- **its free parameters**, the *site*: the value `gmm_model` declares (under
  ``numpyro.param`` for maximum likelihood, or ``numpyro.sample`` under the conjugate
  prior), its shape, the site name, whether one value is shared by every component, the
  dims ArviZ labels it with, and the maps between the site and full ``(K, d, d)``
  matrices. The site value is also the array scikit-learn's ``covariances_`` holds;
- **its conjugate prior** on the site, built from a :class:`ppl_gmm.prior.ResolvedPrior`;
- **its M-step** from the component moments, given the previous covariances (the warm
  start iterative M-steps need; closed-form ones ignore it);
- **its parameter count** for BIC (mclust's ``nMclustParams``);
- **its internal-coordinates rule**: whether the model is invariant to scaling each
  feature on its own (then EM standardises each column) or only to one common scale;
- **which degenerate data make every covariance singular** (checked before EM).

The closed-form M-steps (Celeux & Govaert 1995) all read

    Sigma_k = pool(B)_k / denominator_k

with ``B_k`` the weighted scatter about the mean (plus the prior's terms under MAP),
``pool`` the projection onto the structure and the denominator counting the powers of
|Sigma_k| in the objective (the MAP column is the mode under :class:`ppl_gmm.Prior`:
inverse-Wishart(nu, Psi) on a full matrix, inverse-gamma(nu / 2, Psi_jj / 2) on each
variance of a diagonal one, inverse-gamma(d nu / 2, tr(Psi) / 2) on a single variance,
each with mu_k | Sigma_k ~ N(m0, Sigma_k / kappa)):

=========  ======  ======================  ==========  ===========================
ppl_gmm    mclust  pool(B)_k               ML denom.   MAP denominator
=========  ======  ======================  ==========  ===========================
full       VVV     B_k                     N_k         N_k + nu + d + 2
diag       VVI     diag(B_k)               N_k         N_k + nu + 3
spherical  VII     tr(B_k) I               d N_k       d (N_k + nu + 1) + 2
tied       EEE     sum_j B_j               n           n + K + nu + d + 1
EEI        EEI     diag(sum_j B_j)         n           n + K + nu + 2
EII        EII     tr(sum_j B_j) I         d n         d (n + K + nu) + 2
=========  ======  ======================  ==========  ===========================

Adding a structure is adding an entry here (and its tests): nothing else in the
package branches on a structure's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

# NumPyro is imported inside the methods that build its objects, so that `import ppl_gmm`
# and a plain EM fit do not pay NumPyro's import time (about 0.6 s).

#: Component plate dims of a site value, by its per-component form.
_MATRIX_DIMS = ("feature", "feature_bis")
_VECTOR_DIMS = ("feature",)


@dataclass(frozen=True)
class CovarianceStructure:
    """Everything one covariance structure decides (see the module docstring).

    Attributes
    ----------
    name : str
        ppl_gmm's name (scikit-learn's where scikit-learn has the model).
    mclust_name : str
        mclust's three-letter name.
    description : str
        One line for tables and error messages.
    form : {"matrix", "diagonal", "scalar"}
        What one covariance value of the site is: a (d, d) matrix, d variances, or one
        variance times the identity.
    shared : bool
        One site value for every component (outside the "component" plate).
    site : str
        Name of the `gmm_model` site holding the free covariance parameters.
    common_scale : bool
        The model is only invariant to one common scaling of all features (a multiple
        of the identity), so EM's internal coordinates use one scale for every column.
    pool : callable
        ``(K, d, d) -> (K, d, d)``: scatter matrices projected onto the structure (for a
        shared structure, summed over components and given to every component).
    ml_denominator, map_denominator : callable
        ``(counts, n_components, d[, dof]) -> (K,)``: divisors of the pooled scatter.
        `n_components` is the number of live components (the model-selection grid pads
        K); `counts` of dead components are 0.
    n_covariance_parameters : callable
        ``(K, d) -> int``, free covariance parameters (mclust's count).
    singular_data : {"rank", "constant_column", "identical_rows"}
        Which degenerate data make every maximum-likelihood covariance singular: data
        spanning fewer than d dimensions, a constant column, or identical rows.
    """

    name: str
    mclust_name: str
    description: str
    form: str
    shared: bool
    site: str
    common_scale: bool
    pool: Callable
    ml_denominator: Callable
    map_denominator: Callable
    n_covariance_parameters: Callable
    singular_data: str

    # ---------------------------------------------------------------- the site

    def site_shape(self, n_components: int, n_features: int) -> tuple:
        """Shape of the site value (and of scikit-learn's ``covariances_``)."""
        per_component = {"matrix": (n_features, n_features), "diagonal": (n_features,),
                         "scalar": ()}[self.form]
        return per_component if self.shared else (n_components, *per_component)

    @property
    def site_dims(self) -> tuple:
        """ArviZ dims of the site value, leading "component" unless shared."""
        per_component = {"matrix": _MATRIX_DIMS, "diagonal": _VECTOR_DIMS,
                         "scalar": ()}[self.form]
        return per_component if self.shared else ("component", *per_component)

    def site_from_covariances(self, covariances):
        """The site value of full ``(..., K, d, d)`` covariances: the matrix, its diagonal or
        its mean diagonal, of component 0 for a shared structure."""
        covariances = jnp.asarray(covariances)
        if self.form == "matrix":
            value = covariances
        else:
            value = jnp.diagonal(covariances, axis1=-2, axis2=-1)
            if self.form == "scalar":
                value = jnp.mean(value, axis=-1)
        if self.shared:
            value = value[..., 0, :, :] if self.form == "matrix" else (
                value[..., 0, :] if self.form == "diagonal" else value[..., 0])
        return value

    def covariances_from_site(self, value, n_components: int, n_features: int):
        """Full ``(K, d, d)`` covariances from a site value (leading axes allowed)."""
        value = jnp.asarray(value)
        eye = jnp.eye(n_features, dtype=value.dtype)
        if self.shared:
            value = value[..., None, :, :] if self.form == "matrix" else (
                value[..., None, :] if self.form == "diagonal" else value[..., None])
        if self.form == "matrix":
            matrices = value
        elif self.form == "diagonal":
            matrices = value[..., :, None] * eye
        else:
            matrices = value[..., None, None] * eye
        return jnp.broadcast_to(matrices, (*matrices.shape[:-3], n_components, n_features,
                                           n_features))

    def site_constraint(self):
        """The support of the site (for ``numpyro.param`` and unconstraining)."""
        from numpyro.distributions import constraints

        return constraints.positive_definite if self.form == "matrix" else constraints.positive

    def site_initial_value(self, n_components: int, n_features: int):
        """Identity covariances as a site value (the ``numpyro.param`` default)."""
        shape = self.site_shape(n_components, n_features)
        if self.form == "matrix":
            return jnp.broadcast_to(jnp.eye(n_features), shape)
        return jnp.ones(shape)

    def site_prior(self, prior, n_features: int):
        """The conjugate prior of one site value (per component unless shared).

        Inverse-Wishart(nu, Psi) for a matrix; inverse-gamma(nu / 2, Psi_jj / 2) on each
        variance of a diagonal; inverse-gamma(d nu / 2, tr(Psi) / 2) on a single variance.
        """
        import numpyro.distributions as dist

        if self.form == "matrix":
            return dist.InverseWishart(prior.dof, scale_matrix=prior.scale)
        if self.form == "diagonal":
            return dist.InverseGamma(prior.dof / 2.0, jnp.diagonal(prior.scale) / 2.0).to_event(1)
        return dist.InverseGamma(n_features * prior.dof / 2.0, jnp.trace(prior.scale) / 2.0)

    def log_prior_of_site(self, value, prior, n_features: int):
        """Summed log density of a site value under :meth:`site_prior` (traceable)."""
        return jnp.sum(self.site_prior(prior, n_features).log_prob(value))

    # ---------------------------------------------------------------- the M-step

    def project(self, covariances):
        """The structure's nearest matrices to ``(..., K, d, d)`` covariances (an
        initialiser's draws): per component the matrix, its diagonal or tr/d I; for a
        shared structure component 0's, given to every component."""
        k, d = covariances.shape[-3], covariances.shape[-1]
        return self.covariances_from_site(self.site_from_covariances(covariances), k, d)

    def covariance_update(self, scatter, counts, n_components, prior, previous=None):
        """The M-step's covariances from component scatter matrices.

        Parameters
        ----------
        scatter : (K, d, d)
            B_k: the weighted scatter of component k about its mean, with the prior's
            mean-shrinkage term added under MAP.
        counts : (K,)
            N_k (0 for a dead, padded component).
        n_components : int or int scalar
            K, the live components.
        prior : ResolvedPrior or None
            None for maximum likelihood; otherwise its scale Psi is pooled in and the
            MAP denominator used.
        previous : (K, d, d) or None
            The previous covariances: the warm start of an iterative M-step. Closed-form
            structures (all in this table) do not need it.

        Returns
        -------
        (K, d, d) covariances (not yet symmetrised or regularised).
        """
        d = scatter.shape[-1]
        if prior is None:
            return self.pool(scatter) / self.ml_denominator(counts, n_components, d)[
                :, None, None]
        # Psi pooled as one matrix: a shared structure's prior counts it once.
        pooled = self.pool(scatter) + self.pool(prior.scale[None])
        return pooled / self.map_denominator(counts, n_components, d, prior.dof)[:, None, None]

    # ---------------------------------------------------------------- counting

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the mixture: K - 1 weights, K d means, the covariances."""
        k, d = n_components, n_features
        return (k - 1) + k * d + self.n_covariance_parameters(k, d)


# ------------------------------------------------------------------- pools


def _diagonal_part(b):
    return jnp.eye(b.shape[-1], dtype=b.dtype) * jnp.diagonal(b, axis1=-2, axis2=-1)[..., None, :]


def _trace_times_identity(b):
    trace = jnp.trace(b, axis1=-2, axis2=-1)
    return trace[..., None, None] * jnp.eye(b.shape[-1], dtype=b.dtype)


def _summed(b):
    return jnp.broadcast_to(jnp.sum(b, axis=-3, keepdims=True), b.shape)


def _total(counts):
    return jnp.full_like(counts, jnp.sum(counts))


# ------------------------------------------------------------------- the registry


_ENTRIES = (
    CovarianceStructure(
        name="full", mclust_name="VVV", description="own full matrix per component",
        form="matrix", shared=False, site="covariances", common_scale=False,
        pool=lambda b: b,
        ml_denominator=lambda counts, k, d: counts,
        map_denominator=lambda counts, k, d, dof: counts + dof + d + 2,
        n_covariance_parameters=lambda k, d: k * d * (d + 1) // 2,
        singular_data="rank",
    ),
    CovarianceStructure(
        name="diag", mclust_name="VVI", description="own diagonal matrix per component",
        form="diagonal", shared=False, site="variances", common_scale=False,
        pool=_diagonal_part,
        ml_denominator=lambda counts, k, d: counts,
        map_denominator=lambda counts, k, d, dof: counts + dof + 3,
        n_covariance_parameters=lambda k, d: k * d,
        singular_data="constant_column",
    ),
    CovarianceStructure(
        name="spherical", mclust_name="VII", description="own variance times I per component",
        form="scalar", shared=False, site="variance", common_scale=True,
        pool=_trace_times_identity,
        ml_denominator=lambda counts, k, d: d * counts,
        map_denominator=lambda counts, k, d, dof: d * (counts + dof + 1) + 2,
        n_covariance_parameters=lambda k, d: k,
        singular_data="identical_rows",
    ),
    CovarianceStructure(
        name="tied", mclust_name="EEE", description="one full matrix shared by all",
        form="matrix", shared=True, site="covariance", common_scale=False,
        pool=_summed,
        ml_denominator=lambda counts, k, d: _total(counts),
        map_denominator=lambda counts, k, d, dof: _total(counts) + k + dof + d + 1,
        n_covariance_parameters=lambda k, d: d * (d + 1) // 2,
        singular_data="rank",
    ),
    CovarianceStructure(
        name="EEI", mclust_name="EEI", description="one diagonal matrix shared by all",
        form="diagonal", shared=True, site="shared_variances", common_scale=False,
        pool=lambda b: _diagonal_part(_summed(b)),
        ml_denominator=lambda counts, k, d: _total(counts),
        map_denominator=lambda counts, k, d, dof: _total(counts) + k + dof + 2,
        n_covariance_parameters=lambda k, d: d,
        singular_data="constant_column",
    ),
    CovarianceStructure(
        name="EII", mclust_name="EII", description="one variance times I shared by all",
        form="scalar", shared=True, site="shared_variance", common_scale=True,
        pool=lambda b: _trace_times_identity(_summed(b)),
        ml_denominator=lambda counts, k, d: d * _total(counts),
        map_denominator=lambda counts, k, d, dof: d * (_total(counts) + k + dof) + 2,
        n_covariance_parameters=lambda k, d: 1,
        singular_data="identical_rows",
    ),
)

#: Every structure by its ppl_gmm name, in registry order.
STRUCTURES = {entry.name: entry for entry in _ENTRIES}
#: ppl_gmm's names of the structures, in registry order.
COVARIANCE_TYPES = tuple(STRUCTURES)
#: scikit-learn's four structures (GaussianMixture's historical `covariance_type` values).
SKLEARN_TYPES = ("full", "diag", "spherical", "tied")
_BY_MCLUST_NAME = {entry.mclust_name: entry for entry in _ENTRIES}


def get_structure(covariance_type) -> CovarianceStructure:
    """Look up a structure by ppl_gmm's (scikit-learn's) name or mclust's name.

    A :class:`CovarianceStructure` is returned as it is.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if isinstance(covariance_type, CovarianceStructure):
        return covariance_type
    if isinstance(covariance_type, str):
        found = STRUCTURES.get(covariance_type) or _BY_MCLUST_NAME.get(covariance_type)
        if found is not None:
            return found
    known = ", ".join(f"{e.name!r}" + (f" ({e.mclust_name})" if e.mclust_name != e.name else "")
                      for e in _ENTRIES)
    raise ValueError(f"covariance_type={covariance_type!r} is not known; use one of {known}.")


def canonical_name(covariance_type) -> str:
    """ppl_gmm's name of a structure given by any of its names."""
    return get_structure(covariance_type).name


def structure_index(covariance_type) -> int:
    """Position of a structure in ``COVARIANCE_TYPES`` (a traced ``lax.switch`` index)."""
    return COVARIANCE_TYPES.index(canonical_name(covariance_type))


def n_parameters(covariance_type, n_components: int, n_features: int) -> int:
    """Free parameters of a K-component mixture: K - 1 weights, K d means, covariances."""
    return get_structure(covariance_type).n_parameters(n_components, n_features)


__all__ = [
    "COVARIANCE_TYPES",
    "SKLEARN_TYPES",
    "STRUCTURES",
    "CovarianceStructure",
    "canonical_name",
    "get_structure",
    "n_parameters",
    "structure_index",
]
