"""The Bayesian side: NUTS, MAP, memberships, ArviZ conversion, diagnostics, relabelling."""
