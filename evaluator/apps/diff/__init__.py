"""What differs between two policies, or two versions of one: ``unclaimed diff A B``.

Both sides are loaded and checked with :func:`evaluator.policy.load_policy` (a file, a
directory holding ``policy.yaml`` or ``ID[@VERSION]``) and compared *resolved*, after
``extends``: a parameter a child inherits unchanged is the same parameter, wherever it
is written.

Sections, in this order: ``parameters`` (type, value, derived formula, provision),
``definitions`` (entity, formula, provision), ``provisions`` (text, computability),
``interpretations`` (text), ``outputs`` (added, removed, renamed, reordered) and
``invariants`` (formula, provision, message, severity). Each change says where each
side is written (file and line) and which policy of the chain set it.

Substance and notes
-------------------
Formulas are compared by their syntax trees (:mod:`evaluator.ast` equality ignores
positions), so an edit of whitespace or line breaks only is a ``reformatted`` note, not
a change. Parameter values are compared as written in policies
(:func:`evaluator.policy.param_json`): ``10 years`` and ``120 months`` are the same value,
tables are compared row by row and the changed cells are named. Texts (provisions,
interpretations, descriptions, messages) are compared with runs of whitespace folded.
Three kinds of change are *notes*, reported but not substance:

* ``reformatted``: a formula written differently with the same syntax tree;
* ``redescribed``: only a description or a declared type (``type:``) differs; both are
  annotations that never change a value, and they are compared only when both sides
  have one (an override that leaves them out inherits nothing of them);
* ``recomputed``: a derived parameter whose formula is unchanged computes another
  value, because a parameter it reads changed (that change is reported itself).

:attr:`PolicyDiff.same` is true when every change is a note. The header names both
policies and the status, title, effective dates and ``extends`` chain that differ;
those are metadata, never changes.

Exit status of the command: 0 when the policies are identical in substance, 1 when they
differ, 2 when either cannot be loaded or checked (its diagnostics on stderr).

Modules: :mod:`.model` (the result and its renderings), :mod:`.compute` (the comparison),
:mod:`.cli` (the subcommand).
"""

from evaluator.apps.diff.cli import add_parser, run
from evaluator.apps.diff.compute import diff_documents, diff_policies
from evaluator.apps.diff.model import (
    EXIT_DIFFERENT,
    EXIT_INVALID,
    EXIT_SAME,
    KINDS,
    NOTE_KINDS,
    SECTIONS,
    Change,
    Location,
    PolicyDiff,
    PolicyInfo,
)

__all__ = ["EXIT_DIFFERENT", "EXIT_INVALID", "EXIT_SAME", "KINDS", "NOTE_KINDS", "SECTIONS",
           "Change", "Location", "PolicyDiff", "PolicyInfo", "add_parser", "diff_documents",
           "diff_policies", "run"]
