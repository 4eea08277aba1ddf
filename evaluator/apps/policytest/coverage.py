"""The report of a test run: coverage by provision (``CoverageRow``, ``SiteGap``) and
``TestReport`` with its text, JSON and JUnit renderings and exit status."""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evaluator.apps.policytest.cases import CaseResult
from evaluator.backends.scalar.coverage import DecisionSite, cited, subsection
from evaluator.lang.document.loader import PolicyDocument, ProvisionSpec
from evaluator.policy import Policy
from evaluator.text import squash_spaces

STATES = ("covered", "partial", "uncovered", "not computable")
_NUMBER = re.compile(r"(\d+)")


# -- coverage --------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteGap:
    """A decision of a citing definition that was not seen both ways over all cases."""

    definition: str
    kind: str
    text: str
    line: int | None
    #: the outcomes never seen: (False,), (True,) or (True, False) when never reached
    never: tuple[bool, ...]

    def describe(self) -> str:
        text = _clip(squash_spaces(self.text), 48)
        if len(self.never) == 2:
            return f"{text} never reached"
        return f"{text} never {'true' if self.never[0] else 'false'}"

    def to_dict(self) -> dict[str, Any]:
        return {"definition": self.definition, "kind": self.kind, "text": self.text,
                "line": self.line, "never": list(self.never)}


@dataclass(frozen=True)
class CoverageRow:
    """One provision (subsection) of the coverage table."""

    provision: str
    declared: bool
    computable: bool
    reason: str | None
    #: definitions citing it, directly or through a parameter they read
    definitions: tuple[str, ...]
    #: parameters citing it
    parameters: tuple[str, ...]
    #: case names
    exercised: tuple[str, ...]
    decided: tuple[str, ...]
    #: decision sites of its definitions
    sites: int
    gaps: tuple[SiteGap, ...]
    #: the rule's text as the policy declares it under this label (None when it does not)
    text: str | None = None

    @property
    def state(self) -> str:
        """`covered`, `partial`, `uncovered` or `not computable`."""
        if not self.computable:
            return "not computable"
        if not self.exercised:
            return "uncovered"
        return "partial" if self.gaps else "covered"

    @property
    def status(self) -> str:
        """The status as the table shows it."""
        state = self.state
        if state == "not computable":
            text = f"not computable: {self.reason}" if self.reason else state
        elif state == "partial":
            shown = [g.describe() for g in self.gaps]
            unique = list(dict.fromkeys(shown))
            text = "partial: " + "; ".join(unique[:3])
            if len(unique) > 3:
                text += f"; +{len(unique) - 3} more"
        else:
            text = state
        return text if self.declared else f"undeclared ({text})"

    @property
    def failing(self) -> bool:
        """Whether --require-coverage fails on it."""
        return self.state in ("uncovered", "partial")

    def to_dict(self) -> dict[str, Any]:
        return {"provision": self.provision, "text": self.text,
                "status": self.status, "state": self.state,
                "declared": self.declared, "computable": self.computable,
                "reason": self.reason, "definitions": list(self.definitions),
                "parameters": list(self.parameters), "exercised": list(self.exercised),
                "decided": list(self.decided), "decision_sites": self.sites,
                "gaps": [g.to_dict() for g in self.gaps]}


#: an interpretation id as policies write them (`A4`, `P1`): a citation of one that the
#: policy does not declare (it declares nothing, so nothing is checked) is not a row
_INTERPRETATION_ID = re.compile(r"[A-Z]{1,3}\d+")


def _row_test(doc: PolicyDocument) -> Callable[[str], bool]:
    """Whether a cited subsection is a row: every provision label the policy declares,
    whatever its shape (`B-5.1 3`, `QC 3(1)`, `BoC interest`), or one of whose paragraphs
    it declares; an undeclared label unless it is an interpretation id."""
    declared = {subsection(pid) for pid in doc.provisions}

    def is_row(sub: str) -> bool:
        if sub in declared:
            return True
        return sub not in doc.interpretations and not _INTERPRETATION_ID.fullmatch(sub)
    return is_row


def _provision_key(pid: str) -> tuple[int, list[tuple[int, int | str]]]:
    act = pid.startswith("Act ")
    parts = [(0, int(t)) if t.isdigit() else (1, t)
             for t in _NUMBER.split(pid[4:] if act else pid) if t]
    return (1 if act else 0, parts)


def _computable(pid: str, provisions: Mapping[str, ProvisionSpec]
                ) -> tuple[bool, bool, str | None]:
    """(declared, computable, reason) of a row: its own declaration, or, when only its
    paragraphs are declared, not computable when none of them is."""
    own = provisions.get(pid)
    if own is not None:
        return True, own.computable, own.reason
    parts = [s for k, s in provisions.items() if subsection(k) == pid]
    if not parts:
        return False, True, None
    off = [s for s in parts if not s.computable]
    if len(off) == len(parts):
        return True, False, off[0].reason
    return True, True, None


def coverage_rows(policy: Policy, cases: Sequence[CaseResult]) -> list[CoverageRow]:
    """One row per provision declared or cited, over the cases' coverage."""
    doc = policy.document
    defs = policy.checked.defs
    citing: dict[str, set[str]] = {}
    params: dict[str, set[str]] = {}
    declared_rows = {subsection(pid) for pid in doc.provisions}
    is_row = _row_test(doc)
    for name, cdef in defs.items():
        for sub in cited(cdef.spec.provision):
            if is_row(sub):
                citing.setdefault(sub, set()).add(name)
    for pname, pspec in doc.parameters.items():
        for sub in cited(pspec.provision):
            if not is_row(sub):
                continue
            params.setdefault(sub, set()).add(pname)
            users = {n for n, cdef in defs.items() if pname in cdef.params}
            citing.setdefault(sub, set()).update(users)
    sites_of: dict[str, list[DecisionSite]] = {}
    for site in policy.coverage_program.sites:
        sites_of.setdefault(site.definition, []).append(site)
    seen: dict[int, set[bool]] = {}
    for case in cases:
        for sid, outcomes in case.coverage.decisions.items():
            seen.setdefault(sid, set()).update(outcomes)

    rows: list[CoverageRow] = []
    for pid in sorted(declared_rows | set(citing) | set(params), key=_provision_key):
        declared, computable, reason = _computable(pid, doc.provisions)
        names = citing.get(pid, set())
        ordered = tuple(n for n in defs if n in names)
        sites = [x for n in ordered for x in sites_of.get(n, [])]
        plain = [n for n in ordered if n not in sites_of]
        exercised = tuple(c.name for c in cases if names & c.coverage.evaluated)
        decided = tuple(
            c.name for c in cases
            if any(True in c.coverage.decisions.get(x.id, ()) for x in sites)
            or any(n in c.coverage.evaluated for n in plain))
        gaps = []
        for site in sorted(sites, key=lambda x: x.id):
            never = tuple(b for b in (True, False) if b not in seen.get(site.id, set()))
            if never:
                gaps.append(SiteGap(site.definition, site.kind, site.text,
                                    site.span.line if site.span else None, never))
        rows.append(CoverageRow(pid, declared, computable, reason, ordered,
                                tuple(sorted(params.get(pid, ()))), exercised, decided,
                                len(sites), tuple(gaps), doc.quote(pid)))
    return rows


# -- the report ------------------------------------------------------------------------


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _listing(names: Sequence[str], width: int, few: int = 3) -> str:
    """``3: a, b, c`` or ``12: a, b, c, +9`` within ``width``."""
    if not names:
        return "0"
    shown = list(names[:few])
    rest = len(names) - len(shown)
    while True:
        text = f"{len(names)}: " + ", ".join(shown) + (f", +{rest}" if rest else "")
        if len(text) <= width or len(shown) <= 1:
            return _clip(text, width)
        shown.pop()
        rest += 1


def _count(names: Sequence[str], total: int, width: int) -> str:
    """A count of cases, naming them when there are one or two."""
    if not names:
        return "0"
    if len(names) == total and total > 2:
        return f"{total} (all)"
    if len(names) > 2:
        return str(len(names))
    return _clip(f"{len(names)}: " + ", ".join(names), width)


@dataclass
class TestReport:
    """The outcome of ``unclaimed test``: a result per case, coverage per provision."""

    __test__ = False  # not a pytest test class

    policy: Policy
    cases: list[CaseResult]
    #: --require-coverage: an uncovered or partial computable provision is a failure
    require_coverage: bool = False
    _rows: list[CoverageRow] | None = field(default=None, init=False, repr=False)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        return len(self.cases) - self.passed

    def coverage_rows(self) -> list[CoverageRow]:
        if self._rows is None:
            self._rows = coverage_rows(self.policy, self.cases)
        return self._rows

    def coverage_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((*STATES, "undeclared"), 0)
        for row in self.coverage_rows():
            counts[row.state if row.declared else "undeclared"] += 1
        return counts

    def coverage_failures(self) -> list[CoverageRow]:
        """Rows --require-coverage fails on (empty without it)."""
        if not self.require_coverage:
            return []
        return [r for r in self.coverage_rows() if r.failing]

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.coverage_failures()

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    # -- text --------------------------------------------------------------------

    def coverage_line(self) -> str:
        c = self.coverage_counts()
        line = (f"coverage: {c['covered']} covered, {c['partial']} partial, "
                f"{c['uncovered']} uncovered, {c['not computable']} not computable")
        return line + (f", {c['undeclared']} undeclared" if c["undeclared"] else "")

    def coverage_table(self, status_width: int = 64) -> str:
        """The coverage rows aligned in plain text; long statuses wrap in their column."""
        total = len(self.cases)
        header = ["provision", "definitions citing it", "cases exercising it",
                  "cases where it decided", "status"]
        body = [[r.provision, _listing(r.definitions, 40), _count(r.exercised, total, 28),
                 _count(r.decided, total, 28), r.status] for r in self.coverage_rows()]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header) - 1)]
        lead = sum(widths) + 2 * len(widths)

        def line(cells: list[str]) -> list[str]:
            head = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))
            parts = textwrap.wrap(cells[-1], status_width, break_on_hyphens=False) or [""]
            return [(head + "  " + parts[0]).rstrip(),
                    *(" " * lead + more for more in parts[1:])]

        out = line(header) + line(["-" * w for w in widths] + ["-" * status_width])
        for row in body:
            out += line(row)
        return "\n".join(out)

    def render_text(self) -> str:
        out: list[str] = []
        for c in self.cases:
            out.append(f"{'PASS' if c.passed else 'FAIL'} {c.name}")
            for i, d in enumerate(c.diffs):
                out.append(f"  {d}")
                out.extend(f"      {line}" for line in c.explanation(i))
        out.append(f"{self.passed} passed, {self.failed} failed")
        out.append("")
        out.append(f"coverage of {self.policy.document.ref} by provision "
                   f"({len(self.cases)} case{'' if len(self.cases) == 1 else 's'}):")
        out.append(self.coverage_table())
        out.append(self.coverage_line())
        for r in self.coverage_failures():
            out.append(f"FAIL coverage {r.provision}: {r.status}")
        return "\n".join(out) + "\n"

    # -- machine-readable --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.info(),
            "ok": self.ok,
            "require_coverage": self.require_coverage,
            "summary": {"passed": self.passed, "failed": self.failed,
                        "coverage": self.coverage_counts()},
            "cases": [c.to_dict() for c in self.cases],
            "coverage": [r.to_dict() for r in self.coverage_rows()],
            "coverage_failures": [r.provision for r in self.coverage_failures()],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_junit(self) -> str:
        """JUnit XML: a testcase per case, then one per provision (`coverage 2(5)`),
        failing when uncovered (or partial, under --require-coverage) and skipped when
        not computable."""
        suite = ET.Element("testsuite", name=f"unclaimed test {self.policy.document.ref}")
        failures = skipped = 0
        for c in self.cases:
            tc = ET.SubElement(suite, "testcase", name=c.name,
                               classname=f"{self.policy.id}.cases", file=str(c.path))
            if not c.passed:
                failures += 1
                fail = ET.SubElement(tc, "failure", message=c.diffs[0] if c.diffs else "",
                                     type="could-not-run" if not c.ran else "mismatch")
                fail.text = "\n".join(
                    "\n".join([d, *(f"    {x}" for x in c.explanation(i))])
                    for i, d in enumerate(c.diffs))
        for r in self.coverage_rows():
            tc = ET.SubElement(suite, "testcase", name=f"coverage {r.provision}",
                               classname=f"{self.policy.id}.coverage")
            if r.state == "not computable":
                skipped += 1
                ET.SubElement(tc, "skipped", message=r.status)
            elif r.state == "uncovered" or (self.require_coverage and r.failing):
                failures += 1
                fail = ET.SubElement(tc, "failure", message=r.status, type=r.state)
                fail.text = _row_detail(r)
        suite.set("tests", str(len(self.cases) + len(self.coverage_rows())))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        root = ET.Element("testsuites")
        root.append(suite)
        ET.indent(root)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                + ET.tostring(root, encoding="unicode") + "\n")


def _row_detail(r: CoverageRow) -> str:
    lines = [f"{r.provision}: {r.status}",
             "definitions: " + (", ".join(r.definitions) or "none")]
    lines.extend(f"{g.definition} (line {g.line}): {g.describe()}" for g in r.gaps)
    return "\n".join(lines)
