"""Checking a parsed policy document: every pass, in order, into one list of diagnostics."""

from __future__ import annotations

from evaluator.lang.check.infer import Checker
from evaluator.lang.check.model import CheckedPolicy
from evaluator.lang.document.loader import PolicyDocument

__all__ = ["check_document"]


def check_document(doc: PolicyDocument) -> CheckedPolicy:
    return Checker(doc).run()

