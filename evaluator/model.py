"""Old path of :mod:`evaluator.facts.model` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.facts import model as _target

sys.modules[__name__] = _target
