"""scikit-learn's own GaussianMixture tests, run against ppl_gmm.GaussianMixture.

The test module shipped inside the installed scikit-learn wheel
(``sklearn/mixture/tests/test_gaussian_mixture.py``) is imported, and the functions
listed in `RUN` are collected here with that module's ``GaussianMixture`` name
monkeypatched to ppl_gmm's, so their assertions hold for our estimator. Every other
test function of the module is listed in `NOT_RUN` with the reason, and shows up as a
skip with that reason; `test_every_sklearn_test_is_run_or_has_a_reason` notices when a
scikit-learn upgrade adds or removes one.

Fixtures of scikit-learn's conftest (not loaded here) are provided: ``global_dtype``
runs float64 and float32 (scikit-learn itself runs float32 only with
SKLEARN_RUN_FLOAT32_TESTS=1; float32 in, float32 out is part of our contract), and
``global_random_seed`` is scikit-learn's default seed, 42.

Every test that fits a GaussianMixture runs: since a fit compiles one program per
(structure, d, n_init) bucket, shared by every n <= 1024, K <= 16 and max_iter, and
`sample` compiles nothing per n, the whole module takes about a minute on two cores
(it once compiled a program per (structure, K, d, max_iter, n_init) and left a dozen
tests out for time).
"""

import inspect

import numpy as np
import pytest
import sklearn.mixture.tests.test_gaussian_mixture as sk_tests
import sklearn.mixture.tests.test_mixture as sk_mixture_tests

from ppl_gmm.estimator import GaussianMixture

#: scikit-learn's tests run here as they are, in this order (later ones reuse the
#: programs compiled by earlier ones: K = 2, d = 2, the four structures).
RUN = (
    "test_gaussian_mixture_estimate_log_prob_resp",
    "test_gaussian_mixture_predict_predict_proba",
    "test_gaussian_mixture_verbose",
    "test_score_samples",
    "test_means_for_all_inits",
    "test_max_iter_zero",
    "test_init_means_not_duplicated",
    "test_score",
    "test_gaussian_mixture_precisions_init_diag",
    "test_warm_start",
    "test_convergence_detected_with_warm_start",
    "test_gaussian_mixture_fit_predict",
    "test_sample",
    "test_gaussian_mixture_attributes",
    "test_gaussian_mixture_fit_predict_n_init",
    "test_gaussian_mixture_fit",
    "test_gaussian_mixture_fit_best_params",
    "test_multiple_init",
    "test_gaussian_mixture_single_component_stable",
    "test_gaussian_mixture_n_parameters",
    "test_bic_1d_1component",
    "test_gaussian_mixture_aic_bic",
    "test_monotonic_likelihood",
    "test_fitted_precision_covariance_concistency",
)

_PRIVATE = "tests scikit-learn's private functions only; it never fits a GaussianMixture"
_WORDING = ("error/warning wording differs by design: ours names the user's argument and the "
            "fix; ")

#: scikit-learn's test functions not run, and why.
NOT_RUN = {
    # scikit-learn internals, not the estimator.
    "test_suffstat_sk_full": _PRIVATE,
    "test_suffstat_sk_tied": _PRIVATE,
    "test_suffstat_sk_diag": _PRIVATE,
    "test_gaussian_suffstat_sk_spherical": _PRIVATE,
    "test_compute_log_det_cholesky": _PRIVATE,
    "test_gaussian_mixture_log_probabilities": _PRIVATE,
    "test_gaussian_mixture_precisions_init": (
        "calls scikit-learn's private GaussianMixture._set_parameters and _initialize, "
        "which ppl_gmm's estimator does not have (fit_em initialises); precisions_init is "
        "checked by test_gaussian_mixture_precisions_init_diag here and by "
        "test_estimator.py::test_weights_means_precisions_init_set_the_start"),
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": (
        "mocks scikit-learn's private _estimate_gaussian_parameters, which ppl_gmm never "
        "calls"),
    "test_gaussian_mixture_array_api_compliance": (
        "array API inputs (array_api_compat) are not supported: EM runs in JAX"),
    "test_gaussian_mixture_raises_where_array_api_not_implemented": (
        "array API inputs (array_api_compat) are not supported: EM runs in JAX"),
    # Messages.
    "test_check_weights": _WORDING + "'weights_init must have shape (2,)' and 'must be "
                          "non-negative and sum to 1' where scikit-learn says 'The parameter "
                          "'weights' should ...' (test_estimator.py checks ours)",
    "test_check_means": _WORDING + "'means_init must have shape (2, 2)' (test_estimator.py)",
    "test_check_precisions": _WORDING + "'precisions_init (covariance_type=...) must be "
                             "symmetric, positive-definite' / 'must be positive' where "
                             "scikit-learn says ''full precision' should be ...' "
                             "(test_estimator.py::test_init_errors_name_the_users_argument)",
    "test_gaussian_mixture_fit_convergence_warning": (
        _WORDING + "the ConvergenceWarning (scikit-learn's class) says 'EM did not converge "
        "in max_iter=1 iterations (last relative change ...)' "
        "(test_estimator.py::test_non_convergence_warns_with_sklearns_class)"),
    "test_regularisation": (
        _WORDING + "with reg_covar=0 on data spanning 1 of 5 dimensions ppl_gmm refuses "
        "before any work with the cause ('the centred data span only 1 of 5 dimensions') "
        "instead of scikit-learn's 'Fitting the mixture model failed because some components "
        "have ill-defined empirical covariance'"),
    # Documented behaviour that differs.
    "test_gaussian_mixture_setting_best_params": (
        "with reg_covar=0, a spherical component left with about one observation's worth of "
        "responsibility is singular: ppl_gmm raises SingularCovarianceError (naming the fixes: "
        "reg_covar, fewer components, a Prior) where scikit-learn carries on with a "
        "near-degenerate component"),
    "test_init": (
        "restarts are one vmapped batch; the batched run from the same start as n_init=1 can "
        "end 1 ulp lower (-1.8326595171025795 vs ...792 for random_state=2), and the test "
        "compares lower_bound_ with >= (test_restarts.py::"
        "test_best_of_n_init_is_never_worse_than_a_single_fit allows the rounding)"),
}

#: scikit-learn's shared mixture tests (test_mixture.py), not run, and why.
NOT_RUN_MIXTURE = {
    "test_mixture_n_components_greater_than_n_samples_error": (
        _WORDING + "'X has 10 rows but n_components=12: EM needs at least as many "
        "observations as components' for 'Expected n_samples >= n_components'"),
}

for _name in RUN:
    globals()[_name] = getattr(sk_tests, _name)


#: scikit-learn's shared mixture tests run here, with ppl_gmm's estimator in place of the
#: scikit-learn instances they are parametrized with.
RUN_MIXTURE = ("test_gaussian_mixture_n_iter",)


@pytest.mark.filterwarnings("ignore:.*did not converge.*")
def test_gaussian_mixture_n_iter():
    sk_mixture_tests.test_gaussian_mixture_n_iter(GaussianMixture())


def _skipped(reason):
    @pytest.mark.skip(reason=reason)
    def skipped():
        """Not run (see NOT_RUN)."""

    return skipped


for _name, _reason in {**NOT_RUN, **NOT_RUN_MIXTURE}.items():
    globals()[_name] = _skipped(f"scikit-learn's {_name}: {_reason}")


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def global_dtype(request):
    return request.param


@pytest.fixture
def global_random_seed():
    return 42


@pytest.fixture(autouse=True)
def ppl_gmm_estimator(request, monkeypatch):
    """scikit-learn's tests see ppl_gmm's GaussianMixture, and must fit it."""
    if request.function.__name__ not in RUN:
        yield
        return
    monkeypatch.setattr(sk_tests, "GaussianMixture", GaussianMixture)
    fits = []
    fit = GaussianMixture._fit

    def counted_fit(self, X):
        fits.append(type(self))
        return fit(self, X)

    monkeypatch.setattr(GaussianMixture, "_fit", counted_fit)
    yield
    assert fits and set(fits) == {GaussianMixture}, "the test never fitted ppl_gmm's estimator"


def _test_functions(module) -> set:
    return {name for name, obj in vars(module).items()
            if name.startswith("test_") and inspect.isfunction(obj)}


def test_every_sklearn_test_is_run_or_has_a_reason():
    assert not set(RUN) & set(NOT_RUN)
    assert _test_functions(sk_tests) == set(RUN) | set(NOT_RUN)
    assert _test_functions(sk_mixture_tests) == set(RUN_MIXTURE) | set(NOT_RUN_MIXTURE)
