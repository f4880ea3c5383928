"""ppl_gmm: Gaussian mixtures declared in NumPyro, fitted by EM in JAX, checked against the PPL.

Importing ppl_gmm turns on JAX's float64 mode (``jax_enable_x64``) for the whole
process: statisticians expect double precision, and the EM-versus-PPL cross-checks at
1e-9 need it. Arrays you pass in float64 are never downcast. It also turns on JAX's persistent
compilation cache in your user cache directory, unless you configured one
(:mod:`ppl_gmm.compilation_cache`; ``PPL_GMM_COMPILATION_CACHE=0`` turns it off).
"""

import jax

jax.config.update("jax_enable_x64", True)

from . import compilation_cache  # noqa: E402

# On by default, so a new process reuses the programs an earlier one compiled
# (PPL_GMM_COMPILATION_CACHE=0 turns it off; see ppl_gmm.compilation_cache).
compilation_cache.configure_from_environment()

from . import datasets  # noqa: E402
from .fit.driver import (  # noqa: E402
    ConvergenceWarning,
    EmptyComponentWarning,
    SingularCovarianceError,
    em_parameter_path,
    fit_em,
    initial_parameters,
)
from .fit.kmeans import KMeansResult, fit_kmeans  # noqa: E402
from .fit.labels import align_labels, matching_cost, permute  # noqa: E402
from .fit.landscape import Landscape, Optimum, group_optima, likelihood_landscape  # noqa: E402
from .fit.restarts import RestartTable  # noqa: E402
from .fit.variational import fit_vb  # noqa: E402
from .io.serial import FileFormatError, load, save  # noqa: E402
from .params import (  # noqa: E402
    EMHistory,
    EMResult,
    FitOptions,
    GMMParams,
    VariationalPosterior,
    VBHistory,
    VBResult,
)
from .prior import Prior, ResolvedPrior, log_prior_density  # noqa: E402
from .structures.registry import COVARIANCE_TYPES, n_parameters  # noqa: E402
from .version import __version__  # noqa: E402, F401  (re-exported)

# Submodules imported on first use, so that `import ppl_gmm` never imports matplotlib.
_LAZY_SUBMODULES = ("plotting",)


# Public names whose modules import scikit-learn or pandas, loaded on first use.
_LAZY_ATTRIBUTES = {
                    # The probabilistic program imports NumPyro (about 0.6 s): loaded
                    # when first used, so `import ppl_gmm` + an EM fit stay quick.
                    "CrossCheck": "ppl.crosscheck", "cross_check": "ppl.crosscheck",
                    "ppl_gradient": "ppl.crosscheck", "log_joint": "ppl.likelihood",
                    "marginal_log_likelihood": "ppl.likelihood",
                    "pointwise_log_likelihood": "ppl.likelihood", "gmm_model": "ppl.model",
                    "sample": "ppl.sampling", "sample_prior_predictive": "ppl.sampling",
"GaussianMixture": "estimator", "select": "selection.table",
                    "Selection": "selection.table", "read_csv": "io.csvdata",
                    "bootstrap_lrt": "selection.bootstrap",
                    "BootstrapLRT": "selection.bootstrap",
                    # The Bayesian side imports ArviZ (and with it matplotlib).
                    "sample_posterior": "bayes.nuts", "map_em": "bayes.map_em",
                    "fit_map_svi": "bayes.map_svi", "SVIMAPResult": "bayes.map_svi",
                    "posterior_assignments": "bayes.memberships",
                    "Assignments": "bayes.memberships",
                    "summary": "bayes.summaries", "chain_modes": "bayes.summaries",
                    "ChainModes": "bayes.summaries",
                    "compare": "bayes.compare", "Comparison": "bayes.compare",
                    "relabel": "bayes.relabel",
                    "DiagnosticWarning": "bayes.diagnostic_warnings",
                    "RHatWarning": "bayes.diagnostic_warnings",
                    "ChainModeWarning": "bayes.diagnostic_warnings",
                    "ParetoKWarning": "bayes.diagnostic_warnings",
                    # Variational Bayes: predictions and draws from q, the estimator.
                    "predictive_log_density": "bayes.variational",
                    "sample_variational": "bayes.variational",
                    "predictive_memberships": "bayes.variational",
                    "elbo_terms": "ppl.variational_check"}


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_ATTRIBUTES:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY_ATTRIBUTES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COVARIANCE_TYPES",
    "Assignments",
    "BootstrapLRT",
    "ChainModeWarning",
    "ChainModes",
    "Comparison",
    "ConvergenceWarning",
    "CrossCheck",
    "DiagnosticWarning",
    "EMHistory",
    "EMResult",
    "EmptyComponentWarning",
    "FileFormatError",
    "FitOptions",
    "GMMParams",
    "GaussianMixture",
    "KMeansResult",
    "Landscape",
    "Optimum",
    "ParetoKWarning",
    "Prior",
    "RHatWarning",
    "ResolvedPrior",
    "RestartTable",
    "SVIMAPResult",
    "Selection",
    "SingularCovarianceError",
    "VBHistory",
    "VBResult",
    "VariationalPosterior",
    "align_labels",
    "bootstrap_lrt",
    "chain_modes",
    "compare",
    "cross_check",
    "datasets",
    "elbo_terms",
    "em_parameter_path",
    "fit_em",
    "fit_kmeans",
    "fit_map_svi",
    "fit_vb",
    "gmm_model",
    "group_optima",
    "initial_parameters",
    "likelihood_landscape",
    "load",
    "log_joint",
    "log_prior_density",
    "map_em",
    "marginal_log_likelihood",
    "matching_cost",
    "n_parameters",
    "permute",
    "pointwise_log_likelihood",
    "posterior_assignments",
    "ppl_gradient",
    "predictive_log_density",
    "predictive_memberships",
    "read_csv",
    "relabel",
    "sample",
    "sample_posterior",
    "sample_prior_predictive",
    "sample_variational",
    "save",
    "select",
    "summary",
]
