"""The Bayesian side, one job per module:

- ``posterior_model``: `gmm_model` with its options bound, and the prior a posterior needs;
- ``map_em``: MAP by EM (the chains' start, the relabelling reference);
- ``nuts``: NUTS with z summed out (``sample_posterior``);
- ``map_svi``: MAP by SVI (``fit_map_svi``);
- ``memberships``: p(z | X), MAP and sampled assignments (``posterior_assignments``);
- ``draws``: posterior draws as arrays, padded to whole batches;
- ``inference_data``: ArviZ InferenceData with the marginal pointwise log-likelihood;
- ``relabel``: label switching removed against a reference;
- ``summaries``: ArviZ summaries with R-hat warnings, chains in different modes;
- ``compare``: K compared by PSIS-LOO, with EM's BIC;
- ``diagnostic_warnings``: the warning categories.
"""
