"""Relabelling, ArviZ summaries with R-hat warnings, chains in different modes, LOO across K.

The posterior fixture (``separated_posterior`` in conftest.py) is a short real NUTS run
(2 chains x 200 draws) on K = 3 well-separated data drawn from gmm_model.
"""

import itertools
import warnings

import arviz as az
import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.bayes.compare import compare
from ppl_gmm.bayes.diagnostic_warnings import ChainModeWarning, ParetoKWarning, RHatWarning
from ppl_gmm.bayes.draws import padded_batches
from ppl_gmm.bayes.map_em import map_em
from ppl_gmm.bayes.nuts import sample_posterior
from ppl_gmm.bayes.relabel import PERMUTATION_VARIABLE, is_relabelled, relabel
from ppl_gmm.bayes.summaries import chain_modes, summary


def _permute_chain(idata, chain, perm):
    """A copy of `idata` whose `chain` has its components reordered by `perm`
    (component j becomes old component perm[j]), written without ppl_gmm.relabel."""
    out = idata.copy()
    for name, var in idata.posterior.data_vars.items():
        if "component" not in var.dims:
            continue
        axis = var.dims.index("component")
        values = var.values.copy()
        values[chain] = np.take(values[chain], perm, axis=axis - 1)
        out.posterior[name] = (var.dims, values)
    return out


def _max_rhat(idata, var="means"):
    return float(az.rhat(idata, var_names=[var])[var].max())


# ----------------------------------------------------------------------------------------
# Relabelling
# ----------------------------------------------------------------------------------------


# 200 draws per chain: R-hat of a parameter or two may exceed the 1.01 warning level.
@pytest.mark.filterwarnings("ignore::ppl_gmm.bayes.diagnostic_warnings.RHatWarning")
@pytest.mark.parametrize("count", [1, 255, 256, 257, 300, 513])
def test_draws_are_padded_to_balanced_batches(count):
    draws = np.arange(count * 2.0).reshape(count, 2)
    (padded,), batch, original = padded_batches((draws,), batch_size=256)
    n_batches = padded.shape[0] // batch
    assert original == count and padded.shape[0] % batch == 0 and batch <= 256
    assert n_batches == -(-count // 256)  # no more batches than needed
    assert padded.shape[0] - count < n_batches  # less than one padded draw per batch
    np.testing.assert_array_equal(padded[:count], draws)
    np.testing.assert_array_equal(padded[count:], np.repeat(draws[-1:], len(padded) - count, 0))


def test_rhat_of_relabelled_means_below_1_05(separated_posterior):
    _, _, idata = separated_posterior
    table = summary(idata)
    means = table.loc[[i for i in table.index if i.startswith("means")]]
    assert len(means) == 6
    assert means["r_hat"].max() < 1.05
    assert means["ess_bulk"].min() > 50
    assert not table.attrs["chain_modes"].stuck


def test_permuted_chain_has_high_rhat_until_relabelled(separated_posterior):
    _, _, idata = separated_posterior
    perm = np.array([2, 0, 1])
    permuted = _permute_chain(idata, 1, perm)
    assert _max_rhat(permuted) > 1.5

    fixed = relabel(permuted)
    assert _max_rhat(fixed) < 1.05
    stored = fixed.sample_stats[PERMUTATION_VARIABLE]
    assert stored.dims == ("chain", "draw", "component")
    # The relabeller undoes the applied permutation in chain 1, and leaves chain 0 alone.
    assert np.all(stored.values[1] == np.argsort(perm))
    assert np.all(stored.values[0] == np.arange(3))
    for name in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(fixed.posterior[name].values,
                                      idata.posterior[name].values)
    assert fixed.posterior.attrs["relabel_reference"] == "map"
    # The likelihood does not depend on the labels: untouched.
    np.testing.assert_array_equal(fixed.log_likelihood["x"].values,
                                  idata.log_likelihood["x"].values)


def test_relabel_leaves_its_input_alone_and_composes(separated_posterior):
    X, _, idata = separated_posterior
    perm = np.array([1, 2, 0])
    permuted = _permute_chain(idata, 0, perm)
    before = permuted.posterior["means"].values.copy()
    once = relabel(permuted)
    np.testing.assert_array_equal(permuted.posterior["means"].values, before)
    assert not is_relabelled(permuted) and is_relabelled(once)
    # Relabelling again against a permuted reference composes the permutations: the
    # stored ones still map the sampler's draws to the current labels.
    reference = pg.permute(map_em(X, 3).params, [2, 1, 0])
    twice = relabel(once, reference=reference)
    stored = twice.sample_stats[PERMUTATION_VARIABLE].values
    raw = permuted.posterior["means"].values
    current = twice.posterior["means"].values
    for c, s in [(0, 0), (0, 150), (1, 3)]:
        np.testing.assert_array_equal(current[c, s], raw[c, s][stored[c, s]])
    assert twice.posterior.attrs["relabel_reference"] == "given"


def test_relabel_uses_the_best_draw_without_a_stored_map(separated_posterior):
    _, _, idata = separated_posterior
    bare = az.InferenceData(posterior=idata.posterior, sample_stats=idata.sample_stats)
    fixed = relabel(_permute_chain(bare, 1, [1, 0, 2]))
    assert fixed.posterior.attrs["relabel_reference"] == "max_lp_draw"
    assert _max_rhat(fixed) < 1.05
    with pytest.raises(ValueError, match="pass reference="):
        relabel(az.InferenceData(posterior=idata.posterior))


@pytest.mark.filterwarnings("ignore::ppl_gmm.bayes.diagnostic_warnings.ChainModeWarning")
def test_summary_warns_about_high_rhat_and_modes(separated_posterior):
    _, _, idata = separated_posterior
    permuted = _permute_chain(idata, 1, [2, 0, 1])
    with pytest.warns(RHatWarning, match=r"means\[") as record:
        summary(permuted, relabel_first=False)
    # Without relabelling, the permuted chain looks like a chain in another mode.
    assert any(issubclass(w.category, ChainModeWarning) for w in record)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChainModeWarning)
        warnings.simplefilter("ignore", RHatWarning)
        summary(permuted)  # relabelled by default: no mode warning


# ----------------------------------------------------------------------------------------
# Chains stuck in different modes
# ----------------------------------------------------------------------------------------


def _merged(params, a, b):
    """Components a and b of `params` replaced by one moment-matched component."""
    w = params.weights[a] + params.weights[b]
    mean = (params.weights[a] * params.means[a] + params.weights[b] * params.means[b]) / w
    cov = sum(params.weights[j] * (params.covariances[j]
                                   + np.outer(params.means[j] - mean, params.means[j] - mean))
              for j in (a, b)) / w
    rest = [j for j in range(len(params.weights)) if j not in (a, b)]
    return pg.GMMParams(np.array([w, *params.weights[rest]]),
                        np.array([mean, *params.means[rest]]),
                        np.array([cov, *params.covariances[rest]]))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ppl_gmm.bayes.diagnostic_warnings.RHatWarning")
def test_chains_stuck_in_different_modes_are_reported():
    # Four separated clusters, three components: merging different pairs gives different
    # local optima, far apart. One chain starts in each.
    X, _, _ = pg.datasets.make_synthetic(300, 4, 2, seed=1)
    four = map_em(X, 4).params
    modes = [pg.fit_em(X, 3, prior=pg.Prior(), init=_merged(four, a, b))
             for a, b in itertools.combinations(range(4), 2)]
    best, other = sorted(modes, key=lambda r: -r.objective)[:2]
    assert best.objective - other.objective > 20
    idata = sample_posterior(X, 3, init=[best.params, other.params], num_warmup=150,
                             num_samples=150, num_chains=2, seed=0, posterior_predictive=False)
    found = chain_modes(idata)
    assert found.stuck
    assert found.groups == ((0,), (1,))
    assert found.pairwise_rhat[0, 1] > 1.5
    assert found.mean_log_likelihood[0] > found.mean_log_likelihood[1] + 20
    assert "different modes" in str(found)
    with pytest.warns(ChainModeWarning, match="chains"):
        summary(idata)

    # The same data with both chains in the best mode: one group.
    same = sample_posterior(X, 3, init=[best.params, best.params], num_warmup=150,
                            num_samples=150, num_chains=2, seed=1, posterior_predictive=False)
    assert not chain_modes(same).stuck


# ----------------------------------------------------------------------------------------
# Comparison across K
# ----------------------------------------------------------------------------------------


def test_compare_rejects_bad_ks(separated_posterior):
    X, *_ = separated_posterior
    with pytest.raises(ValueError, match="distinct"):
        compare(X, ks=[2, 2])
    with pytest.raises(ValueError, match="n_components"):
        compare(X, ks=[0, 1])


@pytest.mark.slow
def test_loo_ranks_the_true_k_first(separated_posterior):
    # Compared under the prior the data were drawn from (make_synthetic's default,
    # mean 0 and scale I). The data-dependent default Prior() takes its scale from
    # cov(X) / K, which on well-separated clusters is mostly between-cluster spread: it
    # inflates every covariance and costs K = 3 about 50 units of elpd (K = 4 less).
    X, *_ = separated_posterior
    prior = pg.Prior(mean=np.zeros(2), scale=np.eye(2))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = compare(X, ks=[2, 3, 4], prior=prior, num_warmup=150, num_samples=150,
                         num_chains=2)
    table = result.table
    assert result.best_k == 3
    assert table.index[0] == "K=3" and table.loc["K=3", "rank"] == 0
    assert result.best_k_bic == 3
    assert table.loc["K=3", "em_bic_rank"] == 0
    assert table.loc["K=2", "elpd_loo"] < table.loc["K=3", "elpd_loo"] - 50
    assert set(table.columns) >= {"elpd_loo", "p_loo", "elpd_diff", "se", "dse", "weight",
                                  "em_bic", "n_pareto_k_bad", "chains_in_different_modes"}
    # Pareto-k problems are surfaced exactly for the K that have them.
    warned = {int(k) for w in record if issubclass(w.category, ParetoKWarning)
              for k in _ks_named(str(w.message))}
    assert warned == {int(k) for k in table["n_components"][table["n_pareto_k_bad"] > 0]}
    # K = 3 mixes; the spare component of K = 4 may not (it is reported, not asserted).
    assert not table.loc["K=3", "chains_in_different_modes"]
    assert not result.chain_modes[3].stuck


def _ks_named(message):
    return [part.split(":")[0] for part in message.split("K=")[1:]]
