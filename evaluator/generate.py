"""Old path of :mod:`evaluator.apps.generate` (issue 11). The same module object: imports, attribute
patches and ``python -m`` behave as before."""

import sys

from evaluator.apps import generate as _target

if __name__ == "__main__":  # pragma: no cover - `python -m evaluator.generate`
    raise SystemExit(_target.main())
else:
    sys.modules[__name__] = _target
