"""Old path of :mod:`evaluator.backends.columnar` (issue 11): the names it had, from their
new modules.

``COLUMNAR`` (builtin name -> columnar implementation) is kept here for old callers only;
the builtin table (:data:`evaluator.lang.builtins.BUILTINS`) names each implementation."""

from evaluator.backends import columnar as _columnar
from evaluator.backends.columnar import *  # noqa: F403 - the package's names, as before
from evaluator.backends.columnar.functions import Impl, columnar_impl
from evaluator.lang.builtins import BUILTINS

COLUMNAR: dict[str, Impl] = {n: columnar_impl(n) for n, b in BUILTINS.items()
                             if b.columnar is not None}

__all__ = ["COLUMNAR"]
__all__ += _columnar.__all__
