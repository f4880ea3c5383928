"""EM's internal coordinates: the data centred and scaled, and the maps back.

EM is affine equivariant for every structure under the maps its structure allows, so
fitting in standardised coordinates gives the same fit as on the raw data while the
Cholesky factors stay well conditioned when columns live at 1e-8 and 1e8 or far from
the origin. Structures invariant to scaling each feature on its own get one scale per
column; the others (a variance times I) one common scale
(:attr:`ppl_gmm.structures.registry.CovarianceStructure.common_scale`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..params import GMMParams
from ..structures.registry import get_structure


class Coordinates(NamedTuple):
    """Internal coordinates x_int = (x - shift) / scale, per feature."""

    shift: jnp.ndarray
    scale: jnp.ndarray

    def params_to_user(self, params: GMMParams) -> GMMParams:
        s = self.scale
        return GMMParams(
            params.weights,
            self.shift + params.means * s,
            params.covariances * s[:, None] * s[None, :],
        )

    def params_to_internal(self, params: GMMParams) -> GMMParams:
        s = self.scale
        return GMMParams(
            params.weights,
            (params.means - self.shift) / s,
            params.covariances / (s[:, None] * s[None, :]),
        )

    def prior_to_internal(self, prior):
        if prior is None:
            return None
        s = self.scale
        return prior._replace(
            mean=(prior.mean - self.shift) / s, scale=prior.scale / (s[:, None] * s[None, :])
        )


def standardising_coordinates(X: np.ndarray, covariance_type) -> Coordinates:
    """Centre every column at its mean and divide by its standard deviation (one common
    scale, the root mean variance, for structures that need it); constant columns keep
    scale 1."""
    shift = X.mean(axis=0)
    spread = X.std(axis=0)
    if get_structure(covariance_type).common_scale:
        spread = np.full_like(spread, np.sqrt(np.mean(spread**2)))
    scale = np.where(spread > 0, spread, 1.0)
    return Coordinates(shift, scale)


__all__ = ["Coordinates", "standardising_coordinates"]
