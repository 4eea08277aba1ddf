"""Old path of :mod:`evaluator.backends.scalar.interpreter` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.backends.scalar import interpreter as _target

sys.modules[__name__] = _target
