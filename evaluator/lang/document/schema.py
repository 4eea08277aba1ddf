"""Checks composed policy data against ``schemas/policy.schema.json`` and says what is
wrong in prose, one diagnostic per node, at that node."""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema
import jsonschema.exceptions
import yaml

from evaluator.errors import Code, Diagnostic
from evaluator.lang.document.compose import key_node, node_at, where_of
from evaluator.lang.document.positions import node_span
from evaluator.resources import schema_file
from evaluator.span import Source


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_file("policy.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


_SCHEMA_HELP = "see evaluator/schemas/policy.schema.json for the policy format"


def schema_diagnostics(source: Source, root: yaml.Node, data: Any,
                        refused: set[int]) -> list[Diagnostic]:
    """The schema's complaints about ``data``, in prose, one per node: a value of the wrong
    type gets only that, and a node the composer refused gets nothing more."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.path)))
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    out: list[Diagnostic] = []
    for err in errors:
        path = tuple(err.absolute_path)
        if (id(node_at(root, list(path))) in refused
                or (path in mistyped and err.validator != "type")
                # a parameter's value is read by its type, and reported then
                or (len(path) == 3 and path[0] == "parameters" and path[2] == "value")):
            continue
        out.extend(_schema_diagnostic(source, root, err))
    return out


def _schema_diagnostic(source: Source, root: yaml.Node,
                       err: jsonschema.exceptions.ValidationError) -> list[Diagnostic]:
    path = list(err.absolute_path)
    node = node_at(root, path)
    where = ".".join(str(p) for p in path) or "the document"
    name = str(path[-1]) if path else where
    rule = err.validator
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    instance: Any = err.instance
    limit: Any = err.validator_value
    help_: str | None = str(schema.get("description") or _SCHEMA_HELP)
    if rule == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = [k for k in instance if k not in allowed]
        out: list[Diagnostic] = []
        for key in extra:
            # many unknown keys are not typos: then only list the allowed ones
            sugg = difflib.get_close_matches(key, allowed, n=1) if len(extra) <= 100 else []
            out.append(Diagnostic(
                f"unknown key `{key}` in {where}", node_span(source, key_node(node, key) or node),
                source=source, code=Code.SCHEMA,
                help=(f"did you mean `{sugg[0]}`?" if sugg else
                      "allowed keys: " + ", ".join(f"`{a}`" for a in allowed))))
        return out
    if rule == "anyOf":
        # an error inside the branch whose type fits says more than "not valid under any"
        deeper = [e for e in err.context or () if e.validator != "type" or e.relative_path]
        if deeper:
            return _schema_diagnostic(source, root, jsonschema.exceptions.best_match(deeper))
        types = [e.validator_value for e in err.context or ()]
        message = f"`{where}` must be {_type_words(types)}"
        help_ = _type_help(types)
    elif rule == "type":
        message = f"`{where}` must be {_type_words(limit)}"
        help_ = _type_help(limit)
    elif rule == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        message = (f"missing key `{missing[0]}` in {where}" if missing else
                   f"a required key is missing in `{where}`")
        help_ = _SCHEMA_HELP
    elif rule == "enum":
        message = f"`{instance}` is not allowed for `{name}`"
        help_ = "use one of: " + ", ".join(f"`{x}`" for x in limit)
    elif rule == "pattern" and isinstance(instance, str) and \
            key_node(node, instance) is not None:
        # propertyNames: the offending text is a key of this mapping
        node = key_node(node, instance) or node
        message = f"`{instance}` is not a valid name in `{where}`"
        help_ = "names are lower_snake_case: letters a-z, digits and `_`"
    elif rule == "pattern":
        message = f"`{instance}` is not a valid value for `{where}`"
        help_ = _pattern_help(path)
    elif rule == "minLength":
        message = (f"`{where}` is empty" if limit <= 1 else
                   f"`{where}` must be at least {limit} characters long")
    elif rule in ("minProperties", "maxProperties"):
        message = (f"`{where}` must have {'at least' if rule == 'minProperties' else 'at most'}"
                   f" {limit} key{'' if limit == 1 else 's'}")
    elif rule == "uniqueItems":
        message = f"`{where}` names the same item twice"
        help_ = "keep one of them"
    elif rule == "not" and isinstance(limit, dict) and limit.get("required"):
        keys = " and ".join(f"`{k}`" for k in limit["required"])
        message = f"`{where}` cannot have both {keys}"
        help_ = "keep one of them"
    else:  # pragma: no cover - every rule the schema uses is handled above
        message = f"`{where}` does not follow the policy format (rule `{rule}`)"
    return [Diagnostic(message, node_span(source, node), source=source, code=Code.SCHEMA,
                       help=help_, where=where_of(path))]


_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "text",
               "number": "a number", "boolean": "true or false", "null": "empty",
               "integer": "a whole number"}
_TYPE_HELP = {
    "object": "write it as `key: value` lines, indented under it",
    "array": "write it as a list: `[a, b]`, or one `- item` per line",
    "string": "write it as text, in quotes if YAML would read it as something else",
    "boolean": "write `true` or `false`",
}


def _flat_types(t: Any) -> list[str]:
    """JSON schema type names, flattened from nested lists and without repeats."""
    out: list[str] = []
    for x in (t if isinstance(t, list) else [t]):
        for name in _flat_types(x) if isinstance(x, list) else [str(x)]:
            if name not in out:
                out.append(name)
    return out


def _type_words(t: Any) -> str:
    words = [_TYPE_NAMES.get(x, x) for x in _flat_types(t)]
    return " or ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " or " + words[-1]


def _type_help(t: Any) -> str:
    return next((_TYPE_HELP[x] for x in _flat_types(t) if x in _TYPE_HELP), _SCHEMA_HELP)


def _pattern_help(path: list[str | int]) -> str | None:
    last = path[-1] if path else ""
    if last == "version":
        return "versions are semantic: MAJOR.MINOR.PATCH, e.g. `1.0.0`"
    if last == "extends":
        return "write `ID@VERSION`, e.g. `fsra-2024-001@1.0.0`"
    if last == "policy":
        return "policy ids are lower-case letters, digits, `-` and `.`"
    return "names are lower_snake_case"

