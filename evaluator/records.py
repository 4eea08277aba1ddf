"""Old path of :mod:`evaluator.apps.records` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.apps import records as _target

sys.modules[__name__] = _target
