"""Old path of :mod:`evaluator.apps.diff` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.apps import diff as _target

sys.modules[__name__] = _target
