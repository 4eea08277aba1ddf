"""Old path of :mod:`evaluator.apps.portfolio` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.apps import portfolio as _target

sys.modules[__name__] = _target
