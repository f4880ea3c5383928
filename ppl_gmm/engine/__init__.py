"""The EM engine: Gaussian block algebra, sufficient statistics, M-steps, bounds, the
generic kernel (``init`` / ``step`` over a NamedTuple state) and the restart scheduler.

Nothing here validates user input or knows about files: the drivers in
:mod:`ppl_gmm.fit.driver` and :mod:`ppl_gmm.selection.table` do that and call in.
"""
