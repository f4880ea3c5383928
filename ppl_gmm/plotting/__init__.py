"""Figures: mixtures, EM's progress, model selection, the landscape, ArviZ diagnostics."""

from .charts import (
    component_colors,
    mixed_colors,
    plot_em_steps,
    plot_landscape,
    plot_log_likelihood,
    plot_loo_comparison,
    plot_mixture,
    plot_rank,
    plot_selection,
    plot_trace,
    plot_uncertainty,
)

__all__ = [
    "component_colors",
    "mixed_colors",
    "plot_em_steps",
    "plot_landscape",
    "plot_log_likelihood",
    "plot_loo_comparison",
    "plot_mixture",
    "plot_rank",
    "plot_selection",
    "plot_trace",
    "plot_uncertainty",
]
