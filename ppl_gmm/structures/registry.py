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
variance of a diagonal one, inverse-gamma(nu / 2, tr(Psi) / (2 d)) on each of VII's
variances (VII's pooled prior scale is tr(Psi) / d, not tr(Psi)), inverse-gamma(d nu / 2,
tr(Psi) / 2) on EII's one variance, each with mu_k | Sigma_k ~ N(m0, Sigma_k / kappa)):

=========  ======  ======================  ==========  ===========================
ppl_gmm    mclust  pool(B)_k               ML denom.   MAP denominator
=========  ======  ======================  ==========  ===========================
full       VVV     B_k                     N_k         N_k + nu + d + 2
diag       VVI     diag(B_k)               N_k         N_k + nu + 3
spherical  VII     tr(B_k) I               d N_k       d (N_k + 1) + nu + 2
tied       EEE     sum_j B_j               n           n + K + nu + d + 1
EEI        EEI     diag(sum_j B_j)         n           n + K + nu + 2
EII        EII     tr(sum_j B_j) I         d n         d (n + K + nu) + 2
=========  ======  ======================  ==========  ===========================

The other eight of mclust's fourteen models (VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV)
have no pooled form: their entries carry an ``update`` (closed form or iterative,
warm-started; :mod:`.parsimonious`), and their free parameters are the decomposition
Sigma_k = lambda_k D_k A_k D_k^T itself: `gmm_model` declares a ``volume``, a ``shape``
(|A| = 1) and an ``orientation`` (a rotation, through the Cayley transform;
:mod:`.manifolds`), each shared or per component as the model's letters say, and the
full matrices as the deterministic ``covariances``. Under a prior, VEI, EVI, EEV and VEV
take mclust's (its ``me*p`` M-steps; :mod:`.parsimonious`), a factor on the means and
covariances; mclust gives EVE, VEE, VVE and EVV no prior, and neither does ppl_gmm
(``accepts_prior`` False).

mclust's default prior scale for the axis-aligned models (EII, VII, EEI, VEI, EVI, VVI)
is tr(var(X)) / d / K^(2/d) times I, for the others var(X) / K^(2/d)
(:meth:`ppl_gmm.Prior.resolve` with the structure). Where ppl_gmm's MAP differs from
mclust's it is on purpose: mclust's EII ignores the prior scale (an improper prior) and
its EEI does not shrink the means it uses (no prior density gives that M-step); ppl_gmm
keeps the conjugate updates there, whose optimum is a stationary point of the log joint.

For d = 1 mclust's models are "E" (one variance) and "V" (one per component): they are
names of EII and VII.

Adding a structure is adding an entry here (and its tests): nothing else in the
package branches on a structure's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from . import parsimonious

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
    update : callable or None
        ``(scatter, counts, live, previous) -> (K, d, d)``: the maximum-likelihood covariances
        of a model without a pooled form (:mod:`.parsimonious`), warm-started from the
        previous covariances (None: a cold start). None for the pooled models.
    accepts_prior : bool
        Whether MAP-EM under :class:`ppl_gmm.Prior` is defined for the model.
    prior_pool : callable or None
        How the prior's scale Psi enters the pooled scatter (None: as `pool` pools a
        scatter; VII takes tr(Psi) / d, mclust's one variance).
    scalar_prior_per_variance : bool
        A scalar site's prior is one variance's, inverse-gamma(nu / 2, tr(Psi) / (2 d))
        (mclust's VII), rather than d variances pooled, inverse-gamma(d nu / 2, tr(Psi) / 2).
    map_counts : callable or None
        ``(counts, live, d, dof) -> counts``: a decomposed model's MAP update is its ML
        update on B_k + Psi (diagonal part for a diagonal model) with these counts.
    log_prior_factor : callable or None
        ``(covariances, means, prior, live) -> scalar``: a decomposed model's log prior of
        the means and covariances (mclust's, :mod:`.parsimonious`), the factor
        `gmm_model` adds.
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
    update: Callable | None = None
    accepts_prior: bool = True
    prior_pool: Callable | None = None
    scalar_prior_per_variance: bool = False
    map_counts: Callable | None = None
    log_prior_factor: Callable | None = None

    # ------------------------------------------------------------ the decomposition

    @property
    def letters(self) -> tuple:
        """mclust's (volume, shape, orientation) letters: each "E", "V" or "I"."""
        return tuple(self.mclust_name)

    @property
    def decomposed(self) -> bool:
        """Whether the model's free parameters are its decomposition (volume, shape,
        orientation sites) rather than one covariance site."""
        return self.update is not None

    def decomposition(self, covariances) -> parsimonious.Decomposition:
        """lambda_k, A_k (|A_k| = 1) and D_k of ``(K, d, d)`` covariances of this model.

        The orientation is the identity for a diagonal model (axes in data order), a
        common one for a shared orientation, otherwise each matrix's eigenvectors; the
        shapes are then sorted decreasingly, except for diagonal models.
        """
        covariances = jnp.asarray(covariances)
        orientation = self.letters[2]
        if orientation == "I":
            return parsimonious.diagonal_decomposition(covariances)
        if orientation == "E":
            common = parsimonious.common_orientation(
                covariances, jnp.ones(covariances.shape[0], covariances.dtype))
            rotated = parsimonious.rotated_diagonals(covariances, common)
            volume = parsimonious.geometric_mean(rotated)
            return parsimonious.Decomposition(
                volume, rotated / volume[:, None], jnp.broadcast_to(common, covariances.shape))
        return parsimonious.decompose(covariances)

    @property
    def isotropic_prior_scale(self) -> bool:
        """mclust's default prior scale for the model is a multiple of I (axis-aligned
        models), not the data covariance."""
        return self.letters[2] == "I"

    def free_sites(self, n_components: int, n_features: int) -> dict:
        """The model's free covariance parameters: name -> (initial value, support).

        One site (the covariance value) for the pooled models; ``volume``, ``shape`` and
        ``orientation`` for a decomposed one, shared or per component as its letters say,
        the identity-shape and identity-orientation sites left out.
        """
        if not self.decomposed:
            return {self.site: (self.site_initial_value(n_components, n_features),
                                self.site_constraint())}
        from numpyro.distributions import constraints

        from .manifolds import rotation, unit_volume

        k, d = n_components, n_features
        volume, shape, orientation = self.letters
        sites = {"volume": (jnp.ones(() if volume == "E" else (k,)), constraints.positive)}
        if shape != "I":
            sites["shape"] = (jnp.ones((d,) if shape == "E" else (k, d)), unit_volume)
        if orientation != "I":
            eye = jnp.eye(d)
            sites["orientation"] = (eye if orientation == "E" else jnp.broadcast_to(eye, (k, d, d)),
                                    rotation)
        return sites

    def sites_from_covariances(self, covariances) -> dict:
        """The free sites' values (:meth:`free_sites`) of ``(K, d, d)`` covariances.

        Traceable. Each orientation takes the column signs that put it inside the Cayley
        transform's image (:func:`ppl_gmm.structures.manifolds.cayley_representative`;
        on concrete values, the best conditioned choice).
        """
        if not self.decomposed:
            return {self.site: self.site_from_covariances(covariances)}
        from .manifolds import cayley_representative, cayley_signs

        parts = self.decomposition(jnp.asarray(covariances))
        volume_letter, shape_letter, orientation_letter = self.letters
        sites = {"volume": parsimonious.geometric_mean(parts.volume)
                 if volume_letter == "E" else parts.volume}
        if shape_letter == "E":
            # The components' geometric mean: unit volume whenever each is.
            sites["shape"] = parsimonious.geometric_mean(parts.shape.T)
        elif shape_letter == "V":
            sites["shape"] = parts.shape
        if orientation_letter != "I":
            orientation = parts.orientation
            if isinstance(orientation, jax.core.Tracer):
                orientation = cayley_signs(orientation)
            else:
                orientation = jnp.asarray(cayley_representative(np.asarray(orientation)))
            sites["orientation"] = orientation[0] if orientation_letter == "E" else orientation
        return sites

    def covariances_from_sites(self, sites: dict, n_components: int, n_features: int):
        """Full ``(K, d, d)`` covariances from the free sites' values (traceable)."""
        if not self.decomposed:
            return self.covariances_from_site(sites[self.site], n_components, n_features)
        k, d = n_components, n_features
        volume = jnp.broadcast_to(sites["volume"], (k,))
        shape = jnp.broadcast_to(sites["shape"], (k, d)) if "shape" in sites else jnp.ones((k, d))
        orientation = (jnp.broadcast_to(sites["orientation"], (k, d, d))
                       if "orientation" in sites else jnp.broadcast_to(jnp.eye(d), (k, d, d)))
        return parsimonious.compose(volume, shape, orientation)

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
        variance of a diagonal; inverse-gamma(d nu / 2, tr(Psi) / 2) on a single shared
        variance, inverse-gamma(nu / 2, tr(Psi) / (2 d)) on each of VII's (mclust's).
        A decomposed model has no site prior (its prior is a factor, `log_prior_factor`).
        """
        import numpyro.distributions as dist

        if self.form == "matrix":
            return dist.InverseWishart(prior.dof, scale_matrix=prior.scale)
        if self.form == "diagonal":
            return dist.InverseGamma(prior.dof / 2.0, jnp.diagonal(prior.scale) / 2.0).to_event(1)
        if self.scalar_prior_per_variance:
            return dist.InverseGamma(prior.dof / 2.0, jnp.trace(prior.scale) / (2.0 * n_features))
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
        if self.decomposed:
            # The model's maximum-likelihood fit to the matrices as unit-count scatters.
            counts = jnp.ones(covariances.shape[-3], covariances.dtype)
            live = jnp.ones(covariances.shape[-3], bool)

            def fit(matrices):
                return self.update(matrices, counts, live, None)

            if covariances.ndim == 3:
                return fit(covariances)
            return jax.vmap(fit)(covariances.reshape(-1, k, d, d)).reshape(covariances.shape)
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
            structures do not need it.

        Returns
        -------
        (K, d, d) covariances (not yet symmetrised or regularised).

        A decomposed model's MAP update (VEI, EVI, EEV, VEV: mclust's) is its ML update on
        B_k + Psi (diagonal part for a diagonal model) with the counts `map_counts` says.
        One without a prior (EVE, VEE, VVE, EVV), given one anyway (the initialisers'
        regularised first M-step does), runs its update on the scatters and counts that
        the full model's MAP update divides, B_k + Psi over N_k + nu + d + 2: a positive
        definite start, not a MAP estimate.
        """
        d = scatter.shape[-1]
        if self.decomposed:
            live = jnp.arange(counts.shape[-1]) < n_components
            if prior is not None and self.map_counts is not None:
                scatter = scatter + self.pool(prior.scale[None])
                counts = self.map_counts(counts, live, d, prior.dof)
            elif prior is not None:
                scatter = scatter + prior.scale
                counts = counts + prior.dof + d + 2
            return self.update(scatter, counts, live, previous)
        if prior is None:
            return self.pool(scatter) / self.ml_denominator(counts, n_components, d)[
                :, None, None]
        # Psi pooled as one matrix: a shared structure's prior counts it once.
        prior_pool = self.pool if self.prior_pool is None else self.prior_pool
        pooled = self.pool(scatter) + prior_pool(prior.scale[None])
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
        map_denominator=lambda counts, k, d, dof: d * (counts + 1) + dof + 2,
        n_covariance_parameters=lambda k, d: k,
        singular_data="identical_rows",
        prior_pool=lambda psi: _trace_times_identity(psi) / psi.shape[-1],
        scalar_prior_per_variance=True,
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


def _decomposed(name, description, update, n_covariance_parameters, singular_data,
                common_scale, map_counts=None, log_prior_factor=None):
    """An entry of a model whose free parameters are its decomposition; with
    `map_counts` and `log_prior_factor`, mclust's prior (:mod:`.parsimonious`)."""
    diagonal = name[2] == "I"
    return CovarianceStructure(
        name=name, mclust_name=name, description=description, form="matrix", shared=False,
        site="covariances", common_scale=common_scale,
        # How the prior's scale joins the scatter under MAP: its diagonal part, or all of it.
        pool=_diagonal_part if diagonal else (lambda b: b),
        ml_denominator=None, map_denominator=None,
        n_covariance_parameters=n_covariance_parameters, singular_data=singular_data,
        update=update, accepts_prior=log_prior_factor is not None, map_counts=map_counts,
        log_prior_factor=log_prior_factor)


# Per-column scaling maps a diagonal to a diagonal and a shared (or unit-volume) matrix
# to one, so VEI, EVI, VEE and EVV are invariant to it; it does not keep eigenvalues
# apart from eigenvectors, so EVE, VVE, EEV and VEV are invariant to a common scale only.
_DECOMPOSED_ENTRIES = (
    _decomposed("VEI", "own volume, one diagonal shape, axis-aligned", parsimonious.ml_vei,
                lambda k, d: k + (d - 1), "constant_column", common_scale=False,
                map_counts=parsimonious.map_counts_vei,
                log_prior_factor=parsimonious.log_prior_vei),
    _decomposed("EVI", "one volume, own diagonal shape, axis-aligned", parsimonious.ml_evi,
                lambda k, d: 1 + k * (d - 1), "constant_column", common_scale=False,
                map_counts=parsimonious.map_counts_evi,
                log_prior_factor=parsimonious.log_prior_evi),
    _decomposed("VEE", "own volume, one shape and orientation", parsimonious.ml_vee,
                lambda k, d: k + (d - 1) + d * (d - 1) // 2, "rank", common_scale=False),
    _decomposed("EVE", "one volume, own shape, one orientation", parsimonious.ml_eve,
                lambda k, d: 1 + k * (d - 1) + d * (d - 1) // 2, "rank", common_scale=True),
    _decomposed("VVE", "own volume and shape, one orientation", parsimonious.ml_vve,
                lambda k, d: k + k * (d - 1) + d * (d - 1) // 2, "rank", common_scale=True),
    _decomposed("EEV", "one volume and shape, own orientation", parsimonious.ml_eev,
                lambda k, d: 1 + (d - 1) + k * d * (d - 1) // 2, "rank", common_scale=True,
                map_counts=parsimonious.map_counts_eev,
                log_prior_factor=parsimonious.log_prior_eev),
    _decomposed("VEV", "own volume and orientation, one shape", parsimonious.ml_vev,
                lambda k, d: k + (d - 1) + k * d * (d - 1) // 2, "rank", common_scale=True,
                map_counts=parsimonious.map_counts_vev,
                log_prior_factor=parsimonious.log_prior_vev),
    _decomposed("EVV", "one volume, own shape and orientation", parsimonious.ml_evv,
                lambda k, d: 1 + k * (d * (d + 1) // 2 - 1), "rank", common_scale=False),
)
# mclust's order (mclust.options("emModelNames")).
_MCLUST_ORDER = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV",
                 "VEV", "EVV", "VVV")
_ENTRIES = tuple(sorted((*_ENTRIES, *_DECOMPOSED_ENTRIES),
                        key=lambda e: _MCLUST_ORDER.index(e.mclust_name)))

#: Every structure by its ppl_gmm name, in registry order.
STRUCTURES = {entry.name: entry for entry in _ENTRIES}
#: ppl_gmm's names of the structures, in registry order.
COVARIANCE_TYPES = tuple(STRUCTURES)
#: scikit-learn's four structures (GaussianMixture's historical `covariance_type` values).
SKLEARN_TYPES = ("full", "diag", "spherical", "tied")
#: mclust's 14 names, in mclust's order (``covariance_types="all"``).
MCLUST_MODELS = tuple(entry.mclust_name for entry in _ENTRIES)
_BY_MCLUST_NAME = {entry.mclust_name: entry for entry in _ENTRIES}
# mclust's one-dimensional models: one variance, or one per component.
_ONE_DIMENSIONAL = {"E": "EII", "V": "VII"}


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
        name = _ONE_DIMENSIONAL.get(covariance_type, covariance_type)
        found = STRUCTURES.get(name) or _BY_MCLUST_NAME.get(name)
        if found is not None:
            return found
    aliases = ", ".join(f"{e.name!r} = {e.mclust_name}" for e in _ENTRIES
                        if e.mclust_name != e.name)
    raise ValueError(
        f"covariance_type={covariance_type!r} is not known; use one of mclust's 14 models "
        f"{', '.join(MCLUST_MODELS)} (scikit-learn's names are aliases: {aliases}; for "
        "d = 1, 'E' = EII and 'V' = VII).")


def pooled_structures() -> tuple:
    """Names of the models with one covariance site and a pooled M-step (the six that are
    not decomposed), in registry order: the ones NUTS, SVI and the prior predictive take."""
    return tuple(entry.name for entry in _ENTRIES if not entry.decomposed)


def accepting_prior() -> tuple:
    """Names of the structures MAP-EM under :class:`ppl_gmm.Prior` is defined for."""
    return tuple(entry.name for entry in _ENTRIES if entry.accepts_prior)


def check_prior_accepted(covariance_type, prior) -> None:
    """Raise a ValueError naming the structures that take a prior when this one does not."""
    structure = get_structure(covariance_type)
    if prior is not None and not structure.accepts_prior:
        raise ValueError(
            f"prior= is not available for covariance_type={structure.name!r}: mclust defines "
            "no conjugate prior for it (nor for the other models that share an orientation "
            "or a unit-volume matrix across components). Fit it by maximum likelihood "
            f"(prior=None), or use a structure that takes the prior: "
            f"{', '.join(accepting_prior())}.")


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
    "MCLUST_MODELS",
    "SKLEARN_TYPES",
    "STRUCTURES",
    "CovarianceStructure",
    "accepting_prior",
    "canonical_name",
    "check_prior_accepted",
    "get_structure",
    "n_parameters",
    "pooled_structures",
    "structure_index",
]
