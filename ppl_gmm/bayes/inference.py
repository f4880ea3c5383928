"""Transitional: the old home of :func:`sample_posterior`, now :mod:`ppl_gmm.bayes.nuts`.

tests/conftest.py and tests/test_robustness.py still import it from here; delete this
module once they import ``from ppl_gmm.bayes.nuts import sample_posterior``.
"""

from .nuts import sample_posterior

__all__ = ["sample_posterior"]
