"""Figures for Gaussian mixtures: matplotlib, imported only when you import this package.

``import ppl_gmm`` never imports matplotlib (or ArviZ, which imports it); import this
package explicitly: ``from ppl_gmm import plotting``.

Every function that draws one panel takes ``ax=`` (a new figure when omitted) and
returns the :class:`matplotlib.axes.Axes` it drew on; functions that draw a grid of
panels take ``axes=`` and return the array of Axes. Nothing is shown or saved: call
``fig.savefig`` or let the notebook display the figure.

What is drawn comes from the package's own numbers: the EM iterates are replayed by
:func:`ppl_gmm.fit.em_parameter_path`, the log-likelihood traces are the ones EM
recorded (:class:`ppl_gmm.params.EMHistory`), and responsibilities and densities are
:func:`ppl_gmm.engine.gaussian.component_log_joint`'s. The tests check the colours
against the responsibilities EM itself returns.

One job per module:

- ``inputs``: a GMMParams, EMResult or fitted estimator (ppl_gmm's or scikit-learn's)
  read into float64 parameters; data, feature and radius arguments checked;
- ``densities``: component log joints, mixture densities, responsibilities, marginals;
- ``geometry``: component colours, ellipses, legend entries, axis limits;
- ``layout``: new Axes and the grid of feature pairs;
- ``mixture``: :func:`plot_mixture`, :func:`plot_em_steps`, :func:`plot_uncertainty`;
- ``progress``: :func:`plot_log_likelihood`, EM's objective against the iteration;
- ``selection``: :func:`plot_selection` (the (K, structure) grid), :func:`plot_landscape`;
- ``variational``: :func:`plot_elbo` (variational EM's ELBO per iteration) and
  :func:`plot_weights` (the expected weights: which components switched off);
- ``bayesian``: ArviZ's :func:`plot_trace`, :func:`plot_rank`, :func:`plot_loo_comparison`.
"""

from .bayesian import plot_loo_comparison, plot_rank, plot_trace
from .geometry import component_colors, mixed_colors
from .mixture import plot_em_steps, plot_mixture, plot_uncertainty
from .progress import plot_log_likelihood
from .selection import plot_landscape, plot_selection
from .variational import plot_elbo, plot_weights

__all__ = [
    "component_colors",
    "mixed_colors",
    "plot_elbo",
    "plot_em_steps",
    "plot_landscape",
    "plot_log_likelihood",
    "plot_loo_comparison",
    "plot_mixture",
    "plot_rank",
    "plot_selection",
    "plot_trace",
    "plot_uncertainty",
    "plot_weights",
]
