"""Old path of :mod:`evaluator.backends.results` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.backends import results as _target

sys.modules[__name__] = _target
