"""`unclaimed test`: run a policy's test cases and report its coverage by provision.

A *case* is a YAML file (as in ``policies/fsra-2024-001/tests/``)::

    description: what the case shows
    provisions: ["2(1)", "A3"]          # informational
    as_of: "2026-11-21"
    params: {coming_into_force: "2025-07-01"}   # optional, NAME -> text
    facts: {members: [...], claims: [...], fx_rates: [...]}   # the full profile, or
    facts_file: members.json           # .json or .csv, relative to the case file
    fx_file: fx.csv                    # optional, with facts_file
    expect:
      accounts: {M1-A: {status: unclaimed, finding_codes: [payment-overdue]}}
      claims: {C1: {response_due: "2027-03-05"}}
      errors: [M9-A]                   # exactly these ids in errors (none when absent)
      portfolio: {field: value}
      parameters: {name: value}

Every case is evaluated with its own :class:`~evaluator.coverage.Coverage`; the report
folds them into one row per provision (subsection): the definitions citing it, the
cases that exercised it, the cases where it decided the outcome, and whether every
decision of its definitions went both ways.

```python
from evaluator.policytest import discover, run_tests
policy, cases = discover("policies/fsra-2024-001")        # or discover(dir, policy_ref=...)
report = run_tests(policy, cases)
print(report.render_text()); report.ok
```

Modules: :mod:`.discover` (the policy and its cases), :mod:`.cases` (reading a case),
:mod:`.run` (running and comparing), :mod:`.coverage` (the report).
"""

from evaluator.apps.policytest.cases import CASE_KEYS, EXPECT_KEYS, CaseResult
from evaluator.apps.policytest.coverage import STATES, CoverageRow, SiteGap, TestReport
from evaluator.apps.policytest.discover import (
    DiscoveryError,
    discover,
    discover_paths,
    find_cases,
)
from evaluator.apps.policytest.run import EXPLAIN_DEPTH, run_case, run_tests

__all__ = [
    "CASE_KEYS",
    "EXPECT_KEYS",
    "EXPLAIN_DEPTH",
    "STATES",
    "CaseResult",
    "CoverageRow",
    "DiscoveryError",
    "SiteGap",
    "TestReport",
    "discover",
    "discover_paths",
    "find_cases",
    "run_case",
    "run_tests",
]
