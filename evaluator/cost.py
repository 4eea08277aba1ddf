"""Old path of :mod:`evaluator.lang.check.cost` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.lang.check import cost as _target

sys.modules[__name__] = _target
