"""Old path of :mod:`evaluator.lang.typesys` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.lang import typesys as _target

sys.modules[__name__] = _target
