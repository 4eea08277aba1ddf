"""The HTTP service through a real client against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.serve.conftest import REPO, Server, tree, unclaimed

AS_OF = "2026-11-21"
MEMBERS = REPO / "examples" / "members.json"
PROBLEM = "application/problem+json"


def _problem(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    doc = r.json()
    assert doc["status"] == status and doc["title"] and doc["detail"]
    return dict(doc)


def test_health_and_policies(server: Server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json()["status"] == "ok"
        listed = c.get("/v1/policies").json()["policies"]
        paths = {p["path"] for p in listed}
        assert any(p.startswith("alternatives/") for p in paths)
        assert any(p.startswith("interpretations/") for p in paths)
        assert {"fsra-2024-001/policy.yaml"} <= paths
        detail = c.get("/v1/policies/fsra-2024-001@1.1.0").json()
        assert detail["text"] == (REPO / "policies/fsra-2024-001/policy.yaml").read_text()
        assert {p["label"] for p in detail["provisions"]} >= {"2(2)", "2(5)(i)"}
        assert any(d["name"] == "unclaimed_on" and d["formula"] for d in detail["definitions"])
        assert "account" in detail["outputs"]
        old = c.get("/v1/policies/fsra-2024-001@1.0.0").json()
        assert old["version"] == "1.0.0" and old["sha256"] != detail["sha256"]
        doc = _problem(c.get("/v1/policies/fsra-2024-01"), 404)
        assert "fsra-2024-01" in str(doc["detail"])
        _problem(c.get("/v1/policies/fsra-2024-001@9.9.9"), 404)


def test_evaluate_is_the_cli_byte_for_byte(server: Server, tmp_path: Path) -> None:
    """The bundled example as file text, and as a JSON value (hashed as its compact
    serialisation), both answer exactly what the CLI prints for the same bytes."""
    text = MEMBERS.read_text(encoding="utf-8")
    with server.client() as c:
        for explain, flag in ((False, []), (True, ["--explain"])):
            r = c.post("/v1/evaluate", json={
                "policy": "fsra-2024-001", "facts_text": text, "as_of": AS_OF,
                "facts_name": "examples/members.json", "explain": explain,
                "parameters": {"inactivity_period": "3 years"}})
            cli = unclaimed("evaluate", "--policy", str(server.policies / "fsra-2024-001"),
                            "--facts", "examples/members.json", "--as-of", AS_OF,
                            "--param", "inactivity_period=3 years", *flag)
            assert r.status_code == 200 and cli.returncode == 0
            if explain:  # traces cite their file: the service's copy of the policies
                assert b'"trace"' in r.content
            assert r.content == cli.stdout
        value = json.loads(text)
        r = c.post("/v1/evaluate", json={"policy": "fsra-2024-001", "facts": value,
                                         "as_of": AS_OF, "facts_name": "m.json"})
        (tmp_path / "m.json").write_bytes(json.dumps(value, ensure_ascii=False,
                                                     separators=(",", ":")).encode())
        cli = unclaimed("evaluate", "--policy", str(server.policies / "fsra-2024-001"),
                        "--facts", "m.json", "--as-of", AS_OF, cwd=tmp_path)
        assert r.status_code == 200 and r.content == cli.stdout


def test_record_errors_are_answers(server: Server) -> None:
    facts = json.loads(MEMBERS.read_text())
    facts["members"][1]["accounts"][0]["balance"] = "lots"
    with server.client() as c:
        r = c.post("/v1/evaluate", json={"policy": "fsra-2024-001", "facts": facts,
                                         "as_of": AS_OF})
    assert r.status_code == 200
    doc = r.json()
    assert [e["member_id"] for e in doc["errors"]] == [facts["members"][1]["member_id"]]
    assert "lots" in doc["errors"][0]["message"]
    assert len(doc["accounts"]) == sum(len(m["accounts"]) for m in facts["members"]) - 1


def _misspelt() -> tuple[str, int, int]:
    text = (REPO / "policies/interpretations/a3-literal-or.yaml").read_text()
    bad = text.replace("for a in accounts)", "for a in acounts)", 1)
    line = next(i for i, s in enumerate(bad.splitlines(), 1) if "acounts" in s)
    return bad, line, bad.splitlines()[line - 1].index("acounts") + 1


def test_check_reports_what_the_cli_reports(server: Server, tmp_path: Path) -> None:
    bad, line, column = _misspelt()
    with server.client() as c:
        r = c.post("/v1/check", json={"text": bad, "name": "mine.yaml"})
        ok = c.post("/v1/check", json={"text": bad.replace("acounts", "accounts")})
    doc = r.json()
    assert r.status_code == 200 and doc["ok"] is False
    errors = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    assert [(d["file"], d["line"], d["column"]) for d in errors] == [("mine.yaml", line, column)]
    assert "acounts" in errors[0]["message"] and errors[0]["code"]
    assert ok.json()["ok"] is True
    # the CLI, on the same text as a file of the policies folder
    copy = server.policies / "interpretations"
    (tmp_path / "policies").mkdir()
    target = tmp_path / "policies" / "mine.yaml"
    target.write_text(bad)
    for folder in ("deposits-base", "fsra-2024-001"):  # the baseline and the base it extends
        for p in (server.policies / folder).rglob("*.yaml"):
            dest = tmp_path / "policies" / folder / p.relative_to(server.policies / folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(p.read_bytes())
    assert copy.is_dir()
    cli = json.loads(unclaimed("check", "--format", "json", "policies/mine.yaml",
                               cwd=tmp_path).stdout)
    cli_errors = [d for d in cli[0]["diagnostics"] if d["severity"] == "error"]
    assert [(d["line"], d["col"], d["message"]) for d in cli_errors] == \
        [(d["line"], d["column"], d["message"]) for d in errors]


def test_failing_policy_text_is_422_with_every_diagnostic(server: Server) -> None:
    bad, line, _ = _misspelt()
    with server.client() as c:
        r = c.post("/v1/evaluate", json={"policy_text": bad, "facts": {"members": []},
                                         "as_of": AS_OF})
        checked = c.post("/v1/check", json={"text": bad}).json()
    doc = _problem(r, 422)
    assert doc["diagnostics"] == checked["diagnostics"]
    assert f":{line}:" in str(doc["detail"])


def test_bad_input_is_a_problem_document(server: Server) -> None:
    with server.client() as c:
        ev = "/v1/evaluate"
        doc = _problem(c.post(ev, content=b'{"policy": "fsra-2024-001",',
                              headers={"content-type": "application/json"}), 400)
        assert "malformed JSON at line 1, column" in str(doc["detail"])
        doc = _problem(c.post(ev, json={"policy": "fsra-2024-001", "facts": [1],
                                        "as_of": 20261121}), 422)
        assert "facts" in str(doc["detail"]) and "as_of" in str(doc["detail"])
        _problem(c.post(ev, json={"policy": "no-such-policy", "facts": {}, "as_of": AS_OF}),
                 404)
        doc = _problem(c.post(ev, json={"policy": "fsra-2024-001", "facts": {"members": []},
                                        "as_of": AS_OF, "parameters": {"inactivty_period":
                                                                       "1 year"}}), 422)
        assert "unknown parameter `inactivty_period`" in str(doc["detail"])
        assert "inactivity_period" in json.dumps(doc["diagnostics"])
        doc = _problem(c.post(ev, json={"policy": "fsra-2024-001", "facts": {"members": []},
                                        "as_of": "2026-13-01"}), 422)
        assert "as-of date" in str(doc["detail"])
        doc = _problem(c.post(ev, json={"policy": "fsra-2024-001",
                                        "facts_text": '{"members": [', "as_of": AS_OF}), 422)
        assert str(doc["detail"]).startswith("facts.json: malformed JSON")
        deep = '{"policy": "fsra-2024-001", "as_of": "2026-11-21", "facts": {"x": ' + \
            "[" * 5000 + "]" * 5000 + "}}"
        doc = _problem(c.post(ev, content=deep.encode(),
                              headers={"content-type": "application/json"}), 400)
        assert "5002 deep" in str(doc["detail"])
        huge = b'{"facts_text": "' + b"x" * (11 * 1024 * 1024) + b'"}'
        _problem(c.post(ev, content=huge, headers={"content-type": "application/json"}), 413)
        _problem(c.get("/v1/nothing-here"), 404)
        assert c.get("/healthz").status_code == 200  # still serving


def test_a_stalled_client_blocks_no_one(server: Server) -> None:
    parts = urlsplit(server.url)
    stalled = socket.create_connection((parts.hostname or "", parts.port or 0))
    try:
        stalled.sendall(b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{")
        with server.client() as c:
            r = c.post("/v1/evaluate", json={"policy": "fsra-2024-001",
                                             "facts_text": MEMBERS.read_text(),
                                             "as_of": AS_OF}, timeout=10)
            assert r.status_code == 200
    finally:
        stalled.close()


def test_concurrent_requests_answer_as_alone(server: Server) -> None:
    facts = json.loads(MEMBERS.read_text())
    bodies = [{"policy": "fsra-2024-001", "as_of": AS_OF,
               "facts": {"fx_rates": facts["fx_rates"], "members": [m]}}
              for m in facts["members"]]
    with server.client() as c:
        alone = [c.post("/v1/evaluate", json=b).content for b in bodies]

        def ask(i: int) -> bytes:
            return c.post("/v1/evaluate", json=bodies[i % len(bodies)]).content

        with ThreadPoolExecutor(16) as pool:
            together = list(pool.map(ask, range(4 * len(bodies))))
    assert together == [alone[i % len(bodies)] for i in range(4 * len(bodies))]


def test_decision_log_lines_replay(server: Server, tmp_path: Path) -> None:
    assert server.log is not None
    facts = json.loads(MEMBERS.read_text())
    with server.client() as c:
        r = c.post("/v1/evaluate", json={"policy": "fsra-2024-001-quarterly", "facts": facts,
                                         "as_of": AS_OF, "facts_name": "mine.json",
                                         "parameters": {"inactivity_period": "3 years"},
                                         "explain": True})
    assert r.status_code == 200
    lines = server.log.read_text(encoding="utf-8").splitlines()
    mine = [json.loads(x) for x in lines if '"mine.json"' in x]
    assert mine, "the decision was not logged"
    line = mine[-1]
    assert line["policy"]["id"] == "fsra-2024-001-quarterly"
    assert line["as_of"] == AS_OF and line["parameters"] == {"inactivity_period": "3 years"}
    assert line["facts"]["sha256"] and line["result_sha256"] and line["logged_at"]
    record = tmp_path / "decision.json"
    record.write_text(json.dumps(line))
    replayed = unclaimed("replay", str(record))
    assert replayed.returncode == 0, replayed.stderr
    assert b"results match the record" in replayed.stdout
    changed = unclaimed("replay", str(record), "--policy", "fsra-2024-001")
    assert changed.returncode == 1 and b"first diverging definition" in changed.stdout


def test_compare_differences_and_limit(server: Server) -> None:
    facts = json.loads(MEMBERS.read_text())
    with server.client() as c:
        r = c.post("/v1/compare", json={"policies": ["fsra-2024-001",
                                                     "fsra-2024-001-quarterly"],
                                        "facts": facts, "as_of": AS_OF})
        doc = r.json()
        assert r.status_code == 200 and len(doc["runs"]) == 2
        diff = doc["differences"]
        assert diff and all(d["fields"] for d in diff)
        d = next(x for x in diff if x["kind"] == "account")
        assert d["before"]["payment_window"] != d["after"]["payment_window"]
        assert d["first_divergence"]["definition"]
        assert "because" in d["explanation"]
        many = {"members": [{"member_id": f"M{i}", "accounts": [
            {"account_id": f"A{i}", "currency": "CAD", "balance": "1.00",
             "opened": "2020-01-01"}]} for i in range(doc["limit"] + 1)]}
        _problem(c.post("/v1/compare", json={"policies": ["fsra-2024-001"] * 2,
                                             "facts": many, "as_of": AS_OF}), 413)
        _problem(c.post("/v1/compare", json={"policies": ["fsra-2024-001"],
                                             "facts": {}, "as_of": AS_OF}), 422)


def test_only_a_valid_put_writes(server: Server) -> None:
    before = tree(server.policies)
    bad, _, _ = _misspelt()
    good = bad.replace("acounts", "accounts").replace("version: 1.0.0", "version: 1.0.1", 1)
    with server.client() as c:
        doc = _problem(c.put("/v1/policies/fsra-2024-001-a3-literal-or",
                             json={"text": bad}), 422)
        assert doc["diagnostics"]
        _problem(c.put("/v1/policies/fsra-2024-001", json={"text": good}), 422)  # not its id
        for ref in ("..%2F..%2Fevil", "%2Fetc%2Fpasswd", "UPPER", ".hidden"):
            r = c.put(f"/v1/policies/{ref}", json={"text": good})
            assert r.status_code in (404, 422), (ref, r.text)
        _problem(c.put("/v1/policies/x", content=b"[", headers={
            "content-type": "application/json"}), 400)
        assert tree(server.policies) == before
        r = c.put("/v1/policies/fsra-2024-001-a3-literal-or@1.0.1", json={"text": good})
        assert r.status_code == 200, r.text
        saved = r.json()["saved"]
        after = tree(server.policies)
        assert set(after) - set(before) == {saved} and after[saved] == good.encode()
        assert {k: v for k, v in after.items() if k != saved} == before
        assert c.get("/v1/policies/fsra-2024-001-a3-literal-or@1.0.1").json()["sha256"] == \
            r.json()["sha256"]


def test_timeouts_and_read_only(strict_server: Server) -> None:
    with strict_server.client() as c:
        doc = _problem(c.post("/v1/evaluate", json={"policy": "fsra-2024-001",
                                                    "facts_text": MEMBERS.read_text(),
                                                    "as_of": AS_OF}), 503)
        assert "longer than" in str(doc["detail"])
        text = (strict_server.policies / "interpretations/a3-literal-or.yaml").read_text()
        _problem(c.put("/v1/policies/fsra-2024-001-a3-literal-or", json={"text": text}), 403)
        assert c.get("/healthz").status_code == 200


def test_openapi_references_the_schemas(server: Server) -> None:
    with server.client() as c:
        spec = c.get("/openapi.json").json()
        assert "/v1/evaluate" in spec["paths"] and "EvaluateRequest" in json.dumps(spec)
        urls = {spec["externalDocs"]["url"]} | {
            op["externalDocs"]["url"] for path in spec["paths"].values()
            for op in path.values() if "externalDocs" in op}
        assert urls == {"/schemas/policy.schema.json", "/schemas/record.schema.json"}
        for url in urls:
            served = c.get(url)
            assert served.json() == json.loads(
                (REPO / "evaluator/schemas" / url.rsplit("/", 1)[1]).read_text())
        assert "workbench" in c.get("/").text or c.get("/").status_code == 200

