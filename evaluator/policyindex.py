"""Old path of :mod:`evaluator.lang.document.index` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.lang.document import index as _target

sys.modules[__name__] = _target
