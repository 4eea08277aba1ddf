"""Old path of :mod:`evaluator.apps.compare` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.apps import compare as _target

sys.modules[__name__] = _target
