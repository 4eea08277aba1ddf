"""Old path of :mod:`evaluator.lang.nodes` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.lang import nodes as _target

sys.modules[__name__] = _target
