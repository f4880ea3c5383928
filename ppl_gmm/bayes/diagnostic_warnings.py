"""The warnings of the Bayesian diagnostics: one category per kind of unreliable summary."""

__all__ = ["ChainModeWarning", "DiagnosticWarning", "ParetoKWarning", "RHatWarning"]


class DiagnosticWarning(UserWarning):
    """Something in the posterior draws makes their summaries unreliable."""


class RHatWarning(DiagnosticWarning):
    """Some parameters have R-hat above the threshold: the chains disagree."""


class ChainModeWarning(DiagnosticWarning):
    """Chains sit in different modes of the posterior (after relabelling)."""


class ParetoKWarning(DiagnosticWarning):
    """PSIS-LOO's Pareto k is too high for some observations: LOO is unreliable there."""
