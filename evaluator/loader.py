"""Old path of :mod:`evaluator.lang.document.loader` (issue 11): the names it had, from their new modules."""

from evaluator.lang.document import loader as _loader
from evaluator.lang.document.loader import *  # noqa: F403 - the module's names, as before

__all__ = list(_loader.__all__)
