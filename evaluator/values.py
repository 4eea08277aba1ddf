"""Old path of :mod:`evaluator.lang.values` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.lang import values as _target

sys.modules[__name__] = _target
