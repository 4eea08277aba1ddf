"""The cost check and the checker's mistakes: a formula the checker reports (an unknown
function, a wrong type) is reported once, by the checker, and the cost and size halves
of the check do not take what it gives for a list of the facts or a growing value (which
would report every formula that uses it, in the policy and in the policies it extends).
And the cost check's help says "an account definition"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from evaluator import check_policy
from evaluator.errors import Diagnostic

HEADER = ("policy: cost-mistakes\nversion: 1.0.0\nstatus: proposed\ntitle: cost mistakes\n"
          'provisions:\n  "Act 147(1)": {text: unclaimed deposit}\n')


def policy(tmp: Path, defs: list[tuple[str, str, str]], outputs: str) -> Path:
    """A policy of definitions ``(name, entity, formula)`` with the outputs ``outputs``."""
    text = HEADER + "definitions:\n"
    for name, entity, formula in defs:
        text += (f"  {name}:\n    entity: {entity}\n    provision: \"Act 147(1)\"\n"
                 f"    formula: '{formula}'\n")
    path = tmp / "policy.yaml"
    path.write_text(text + f"outputs:\n  {outputs}\n", encoding="utf-8")
    return path


def codes(diags: list[Diagnostic]) -> list[str]:
    return [str(d.code) for d in diags if d.is_error]


def test_unknown_function_in_a_policy_extending_the_baseline_is_one_error(
        tmp_path: Path) -> None:
    """`lastest` for `latest` in a definition the baseline uses from account, member and
    claim formulas: one `name` error, none in the baseline (it gave 28 `cost` errors)."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        "policy: typo\nversion: 1.0.0\nstatus: alternative\ntitle: typo\n"
        "extends: fsra-2024-001@1.1.0\n"
        "definitions:\n"
        "  last_response:\n"
        "    formula: 'lastest(e.date for e in events if e.type == \"response\")'\n",
        encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "evaluator", "check", "--format", "json",
                          "policy.yaml"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert run.returncode == 2, run.stderr
    (report,) = json.loads(run.stdout)
    diags = report["diagnostics"]
    assert len(diags) == 1, [(d["file"], d["line"], d["code"], d["message"]) for d in diags]
    (d,) = diags
    assert (d["code"], d["line"], d["col"], d["file"]) == ("name", 8, 15, "policy.yaml")
    assert d["message"] == "unknown function `lastest`"
    assert d["help"] == "did you mean `latest`?"
    text = subprocess.run([sys.executable, "-m", "evaluator", "check", "policy.yaml"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert text.returncode == 2
    assert text.stdout.rstrip().endswith("policy.yaml: invalid: 1 error, 0 warnings")


def test_wrong_type_is_not_a_list_of_the_facts(tmp_path: Path) -> None:
    """A member definition made of the member's events but of a wrong type, gone through
    from an account formula: the type error only. Written right, the same use is the
    cost error it should be."""
    use = ("x", "account", "count(e for e in mine)")
    wrong = policy(tmp_path, [("mine", "member", "events + 1"), use], "account: [x]")
    diags = check_policy(wrong, root=tmp_path)
    assert codes(diags) == ["type"], [d.render() for d in diags]
    right = policy(tmp_path, [("mine", "member", "events"), use], "account: [x]")
    assert codes(check_policy(right, root=tmp_path)) == ["cost"]


def test_unknown_function_does_not_make_a_doubling_chain(tmp_path: Path) -> None:
    """Each link of a chain is a list of a call, to a function that does not exist, of the
    previous link twice: one `name` error per link, and no size error (the size check
    would otherwise bound each call as its arguments written out, twenty times the
    previous link). With `+`, the same chain is the size error it should be."""
    links = 14

    def chain(call: str) -> list[tuple[str, str, str]]:
        return [("t0", "account", "[account_id]")] + [
            (f"t{i}", "account", call.replace("T", f"t{i - 1}")) for i in range(1, links + 1)]
    diags = check_policy(policy(tmp_path, chain("[twice(T, T)]"), f"account: [t{links}]"),
                         root=tmp_path)
    assert codes(diags) == ["name"] * links, [d.render() for d in diags]
    doubled = check_policy(policy(tmp_path, chain("T + T"),
                                  f"account: [t{links}]"), root=tmp_path)
    assert "cost" in codes(doubled), [d.render() for d in doubled]


def test_help_says_an_account_definition(tmp_path: Path) -> None:
    formula = "if account == null then 0 else count(e for e in account.events)"
    path = policy(tmp_path, [("n", "claim", formula)], "claim: [n]")
    (d,) = check_policy(path, root=tmp_path)
    assert d.code == "cost"
    assert d.help is not None
    assert "as a single value on the account (an account definition) and use that here" \
        in d.help, d.render()
    assert " a account" not in d.render()
