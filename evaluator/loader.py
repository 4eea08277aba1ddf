"""Policy files -> a resolved :class:`PolicyDocument`.

YAML is *composed*, never constructed: scalars stay text as written, so no tag can run
code and the position of every node is known. Duplicate keys, anchors/aliases and
explicit tags are refused. The document is validated against
``schemas/policy.schema.json``; formulas and parameter values are parsed with their
file positions; ``extends: ID@VERSION`` is resolved under the policies root (never
outside it) and merged, child over parent. Every problem becomes a :class:`Diagnostic`;
the loader collects them all rather than stopping at the first.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from evaluator import ast as A
from evaluator import types as T
from evaluator.errors import Diagnostic, ExpressionSyntaxError, PolicyLoadError
from evaluator.parser import parse_expression, parse_literal
from evaluator.resources import policies_root, schema_file
from evaluator.source import ScalarPositions, Source, Span, node_span
from evaluator.values import to_json_value

POLICY_FILE = "policy.yaml"
MAX_POLICY_BYTES = 2_000_000
MAX_EXTENDS_DEPTH = 16
_STD_TAGS = {
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")


@dataclass(frozen=True)
class ProvisionSpec:
    id: str
    text: str | None = None
    computable: bool = True
    reason: str | None = None


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type_name: str
    type: T.Type
    value: Any
    provision: str | None
    description: str | None
    #: "ID@VERSION" of the policy that set the value, or "--param"
    set_by: str
    span: Span | None = None
    key_span: Span | None = None
    source: Source | None = field(default=None, repr=False)
    #: column types for tables, element type for lists
    columns: tuple[tuple[str, str], ...] = ()
    provision_positions: ScalarPositions | None = field(default=None, repr=False)
    #: a derived parameter's formula (over other parameters), as a pseudo-definition
    derived: DefSpec | None = field(default=None, repr=False)


@dataclass(frozen=True)
class InvariantSpec:
    """A condition on the parameters, checked by `check` and before every evaluation."""

    name: str
    check: DefSpec
    message: str | None
    severity: str


@dataclass(frozen=True)
class DefSpec:
    name: str
    entity: str
    formula: str
    node: A.Node | None  # None when the formula did not parse
    provision: str | None
    description: str | None
    declared_type: str | None
    defined_in: str
    key_span: Span | None = None
    positions: ScalarPositions | None = field(default=None, repr=False)
    source: Source | None = field(default=None, repr=False)
    entity_span: Span | None = None
    provision_positions: ScalarPositions | None = field(default=None, repr=False)

    def span(self, node: A.Node | None = None) -> Span | None:
        """File span of a sub-expression (or of the whole formula)."""
        if self.positions is None:
            return self.key_span
        if node is None:
            return self.positions.span(0, len(self.formula))
        return self.positions.span(node.start, node.end)


@dataclass(frozen=True)
class PolicyDocument:
    id: str
    version: str
    status: str
    title: str
    path: str
    description: str | None
    source_info: Any
    effective: dict[str, str | None]
    extends: str | None
    models: str | None
    provisions: dict[str, ProvisionSpec]
    interpretations: dict[str, str]
    parameters: dict[str, ParamSpec]
    definitions: dict[str, DefSpec]
    outputs: dict[str, tuple[str, ...]]
    output_spans: dict[tuple[str, str], Span]
    #: (entity, definition) -> the name it is reported under, when renamed
    output_names: dict[tuple[str, str], str]
    #: every file's text by its displayed path, to render diagnostics anywhere in it
    sources: dict[str, Source]
    invariants: dict[str, InvariantSpec]
    #: definitions named in the files, including those that could not be built
    declared: frozenset[str]
    #: "ID@VERSION" from the root ancestor down to this policy
    chain: tuple[str, ...]
    files: tuple[str, ...]
    canonical: dict[str, Any] = field(repr=False)
    sha256: str = ""

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass
class _Raw:
    """One policy file, composed and checked against the schema, before merging."""

    source: Source
    root: yaml.MappingNode
    data: dict[str, Any]
    diags: list[Diagnostic]


# -- reading YAML ----------------------------------------------------------------------

class _Composer:
    """Turns composed nodes into plain data, refusing what policies must not contain."""

    def __init__(self, source: Source, diags: list[Diagnostic]) -> None:
        self.source = source
        self.diags = diags
        self.seen: set[int] = set()
        self.budget = 200_000  # nodes

    def error(self, node: yaml.Node, message: str, help: str | None = None,
              code: str = "yaml", path: tuple[str, ...] = ()) -> None:
        self.diags.append(Diagnostic(message, node_span(self.source, node), help=help,
                                     source=self.source, code=code, where=_where(path)))

    def plain(self, node: yaml.Node, depth: int = 0, path: tuple[str, ...] = ()) -> Any:
        self.budget -= 1
        if self.budget < 0:
            if self.budget == -1:
                self.error(node, "policy file has too many nodes", "split it or simplify it")
            return None
        if depth > 60:
            self.error(node, "policy file nests too deeply")
            return None
        self.seen.add(id(node))
        if node.tag not in _STD_TAGS:
            self.error(node, f"YAML tag `{node.tag}` is not allowed in policies",
                       "remove the tag; values are written as plain text")
            return None
        if isinstance(node, yaml.ScalarNode):
            if path and path[-1] in _TEXT_KEYS:
                return str(node.value)  # formulas and citations are read as written
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(n, depth + 1, (*path, str(i))) for i, n in enumerate(node.value)
                    if id(n) not in self.seen]
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    self.error(k, "mapping keys must be plain text")
                    continue
                key = str(k.value)
                if id(v) in self.seen:
                    continue  # an alias: reported where it is written, value left out
                if key in out:
                    self.error(k, f"duplicate key `{key}`",
                               "a later value would silently replace the earlier one; "
                               "keep one", path=path)
                    continue
                out[key] = self.plain(v, depth + 1, (*path, key))
            return out
        return None  # pragma: no cover


_TEXT_KEYS = frozenset({"formula", "provision", "type", "description", "title"})


def _where(path: tuple[str, ...] | list[str | int]) -> str | None:
    """``definition `x``` / ``parameter `y``` for a path into the document."""
    if len(path) >= 2 and path[0] == "definitions":
        return f"definition `{path[1]}`"
    if len(path) >= 2 and path[0] == "parameters":
        return f"parameter `{path[1]}`"
    return None


def _scalar(node: yaml.ScalarNode) -> Any:
    """Plain data for schema validation, following YAML 1.1 resolution (no construction)."""
    tag = node.tag
    text: str = node.value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return text.lower() in ("true", "yes", "on", "y")
    if tag.endswith(":int"):
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            return text
    if tag.endswith(":float"):
        return text  # exact text; numbers in policies are read by the language, not YAML
    return text


#: an alias is `*name` at the start of a value; `a * b` in a formula has a space after `*`
_MAYBE_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s*]")


def _aliases(source: Source, diags: list[Diagnostic]) -> bool:
    """Report every anchor use (`*name`) at its own position; True when there were any.

    Policies never need anchors, and refusing them before composition also rules out
    alias bombs (a few lines that expand to billions of nodes)."""
    found = False
    if not _MAYBE_ALIAS.search(source.text):
        return False
    try:
        for event in yaml.parse(source.text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                found = True
                start, end = event.start_mark, event.end_mark
                span = source.span_at(start.index, end.index) if start and end else None
                diags.append(Diagnostic(
                    f"aliases (`*{event.anchor}`) are not allowed in policies",
                    span, source=source,
                    code="yaml", help="write the value out, or share it with `extends`"))
    except yaml.YAMLError:
        return False  # composition reports it with its position
    return found


def _compose(source: Source, diags: list[Diagnostic]) -> yaml.Node | None:
    # composition shares an anchored node between its uses, so it never expands an
    # alias bomb; the walk below visits each node once and skips repeated ones
    _aliases(source, diags)
    try:
        return yaml.compose(source.text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if (exc.context_mark is not None and exc.problem_mark is not None
                and exc.problem_mark.index >= len(source.text.rstrip())):
            mark = exc.context_mark  # an unclosed bracket: point at where it opened
        span = None
        if mark is not None:
            span = Span(source.path, mark.line + 1, mark.column + 1, mark.line + 1,
                        mark.column + 2)
        msg = (exc.problem or "malformed YAML").strip()
        if exc.context:
            msg = f"{msg} ({exc.context.strip()})"
        diags.append(Diagnostic(f"malformed YAML: {msg}", span, source=source, code="yaml",
                                help="check indentation, colons and quotes near this point"))
    except yaml.YAMLError as exc:
        diags.append(Diagnostic(f"malformed YAML: {exc}", None, source=source, code="yaml"))
    return None


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                found: yaml.Node = v
                return found
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
        return node.value[key] if 0 <= key < len(node.value) else None
    return None


def _key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k
    return None


def _node_at(root: yaml.Node, path: list[str | int]) -> yaml.Node:
    node: yaml.Node = root
    for p in path:
        nxt = _child(node, p)
        if nxt is None:
            break
        node = nxt
    return node


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_file("policy.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _schema_diagnostics(source: Source, root: yaml.Node, data: Any) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for err in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = list(err.absolute_path)
        node = _node_at(root, path)
        help_ = None
        message = err.message
        where = ".".join(str(p) for p in path) or "the document"
        if err.validator == "additionalProperties":
            allowed = list(err.schema.get("properties", {}))
            extra = [k for k in (err.instance or {}) if k not in allowed]
            for key in extra:
                knode = _key_node(node, key) or node
                sugg = difflib.get_close_matches(key, allowed, n=1)
                out.append(Diagnostic(
                    f"unknown key `{key}` in {where}", node_span(source, knode), source=source,
                    code="schema",
                    help=(f"did you mean `{sugg[0]}`?" if sugg else
                          "allowed keys: " + ", ".join(f"`{a}`" for a in allowed))))
            continue
        if err.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", message)
            message = f"missing key `{missing[0]}` in {where}" if missing else message
            help_ = "see evaluator/schemas/policy.schema.json for the policy format"
        elif err.validator == "enum":
            message = (f"`{err.instance}` is not allowed for `{path[-1] if path else where}`")
            help_ = "use one of: " + ", ".join(f"`{x}`" for x in err.validator_value)
        elif err.validator == "type":
            message = f"`{where}` must be {_type_words(err.validator_value)}"
        elif err.validator == "pattern" and isinstance(err.instance, str) and \
                _key_node(node, err.instance) is not None:
            # propertyNames: the offending text is a key of this mapping
            node = _key_node(node, err.instance) or node
            message = f"`{err.instance}` is not a valid name in `{where}`"
            help_ = "names are lower_snake_case: letters a-z, digits and `_`"
        elif err.validator == "pattern":
            message = f"`{err.instance}` is not a valid value for `{where}`"
            help_ = _pattern_help(path)
        out.append(Diagnostic(message, node_span(source, node), source=source, code="schema",
                              help=help_, where=_where(path)))
    return out


def _type_words(t: Any) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "text", "number": "a number",
             "boolean": "true or false", "null": "empty", "integer": "a whole number"}
    if isinstance(t, list):
        return " or ".join(names.get(str(x), str(x)) for x in t)
    return names.get(t, str(t))


def _pattern_help(path: list[str | int]) -> str | None:
    last = path[-1] if path else ""
    if last == "version":
        return "versions are semantic: MAJOR.MINOR.PATCH, e.g. `1.0.0`"
    if last == "extends":
        return "write `ID@VERSION`, e.g. `fsra-2024-001@1.0.0`"
    if last == "policy":
        return "policy ids are lower-case letters, digits, `-` and `.`"
    return "names are lower_snake_case"


def _read_raw(path: Path, display: str) -> _Raw:
    diags: list[Diagnostic] = []
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise PolicyLoadError(Diagnostic(
                f"{display}: policy file is {size} bytes; the limit is {MAX_POLICY_BYTES}",
                code="io"))
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(Diagnostic(f"{display}: not UTF-8 text ({exc.reason})",
                                         code="io")) from None
    except OSError as exc:
        raise PolicyLoadError(Diagnostic(f"{display}: cannot read: {exc.strerror}",
                                         code="io")) from None
    source = Source(display, text)
    root = _compose(source, diags)
    if root is None:
        if not diags:
            diags.append(Diagnostic("policy file is empty", Span(display, 1, 1, 1, 1),
                                    source=source, code="yaml"))
        raise PolicyLoadError(diags)
    if not isinstance(root, yaml.MappingNode):
        raise PolicyLoadError(Diagnostic("a policy file must be a mapping of keys",
                                         node_span(source, root), source=source, code="yaml"))
    data = _Composer(source, diags).plain(root)
    if not isinstance(data, dict):  # pragma: no cover - root is a mapping
        data = {}
    diags.extend(_schema_diagnostics(source, root, data))
    return _Raw(source, root, data, diags)


# -- resolving names and paths -----------------------------------------------------------

def _a(word: str) -> str:
    """The word with its indefinite article."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _display_path(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def _semver_key(v: str) -> tuple[int, int, int, int, str]:
    m = _SEMVER.match(v)
    if not m:
        return (-1, -1, -1, 0, v)
    pre = m.group(4)
    # a release sorts after its pre-releases
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre or "")


_HEADER = re.compile(r"^(policy|version):\s*['\"]?([^'\"\s#]+)", re.MULTILINE)


def policy_index(root: Path) -> dict[tuple[str, str], Path]:
    """(id, version) -> file, for every policy file under ``root`` (headers only)."""
    out: dict[tuple[str, str], Path] = {}
    if not root.is_dir():
        return out
    for p in sorted(root.rglob("*.yaml")):
        try:
            head = p.read_text(encoding="utf-8")[:4000]
        except (OSError, UnicodeDecodeError):
            continue
        found: dict[str, str] = {m.group(1): m.group(2) for m in _HEADER.finditer(head)}
        if "policy" in found and "version" in found:
            out.setdefault((found["policy"], found["version"]), p)
    return out


def resolve_policy_path(ref: str | os.PathLike[str], root: Path | None = None) -> Path:
    """A policy file, a directory holding ``policy.yaml``, or ``ID[@VERSION]``."""
    p = Path(ref)
    if p.is_file():
        return p
    if p.is_dir():
        if (p / POLICY_FILE).is_file():
            return p / POLICY_FILE
        raise PolicyLoadError(Diagnostic(f"{p}: directory has no {POLICY_FILE}", code="io"))
    text = str(ref)
    base = root or policies_root()
    pid, _, version = text.partition("@")
    if re.fullmatch(r"[a-z0-9][a-z0-9.-]*", pid):
        index = policy_index(base)
        versions = sorted((v for (i, v) in index if i == pid), key=_semver_key)
        if versions:
            if not version:
                return index[(pid, versions[-1])]
            if (pid, version) in index:
                return index[(pid, version)]
            raise PolicyLoadError(Diagnostic(
                f"policy `{pid}` has no version `{version}`", code="io",
                help="known versions: " + ", ".join(versions)))
        ids = sorted({i for (i, _) in index})
        sugg = difflib.get_close_matches(pid, ids, n=1)
        raise PolicyLoadError(Diagnostic(
            f"no policy file, directory or id `{text}`", code="io",
            help=(f"did you mean `{sugg[0]}`?" if sugg else
                  "known ids: " + ", ".join(ids) if ids else None)))
    raise PolicyLoadError(Diagnostic(f"no policy file or directory `{text}`", code="io"))


# -- building specs ----------------------------------------------------------------------

_SCALAR_TYPES = dict(T.PARAM_TYPES)


def _param_type(type_name: str, columns: tuple[tuple[str, str], ...]) -> T.Type:
    if type_name == "table":
        return T.ListT(T.RecordT(tuple((c, _SCALAR_TYPES[t]) for c, t in columns)))
    if type_name == "list":
        return T.ListT(_SCALAR_TYPES[columns[0][1]] if columns else T.TEXT)
    return _SCALAR_TYPES[type_name]


def literal_type(node: A.Node) -> T.Type:
    """The type of a constant parsed by :func:`parse_literal`."""
    if isinstance(node, A.Literal):
        return {"date": T.DATE, "duration": T.DURATION, "month_day": T.MONTH_DAY,
                "int": T.INT, "decimal": T.NUMBER, "percent": T.NUMBER, "text": T.TEXT,
                "bool": T.BOOL, "null": T.NULL}[node.kind]
    if isinstance(node, A.Unary):
        return literal_type(node.operand)
    if isinstance(node, A.ListLit):
        t: T.Type = T.NEVER
        for item in node.items:
            t = T.join(t, literal_type(item)) or T.NEVER
        return T.ListT(t)
    return T.NEVER


def literal_value(node: A.Node) -> Any:
    if isinstance(node, A.Literal):
        return node.value
    if isinstance(node, A.Unary):
        return -literal_value(node.operand)
    if isinstance(node, A.ListLit):
        return tuple(literal_value(i) for i in node.items)
    return None


def convert_scalar(text: str, type_name: str) -> Any:
    """Read one parameter value of a scalar type; raises ValueError with a clear message."""
    if type_name == "text":
        return text
    try:
        node = parse_literal(text)
    except ExpressionSyntaxError as exc:
        raise ValueError(f"`{text}` is not a {type_name.replace('_', '-')}: {exc.message}"
                         ) from None
    want = _SCALAR_TYPES[type_name]
    got = literal_type(node)
    if type_name == "percent" and isinstance(node, A.Literal) and node.kind == "int":
        raise ValueError(f"`{text}` is not a percentage; write it with `%`, e.g. `{text}%`")
    if not T.assignable(got, want) or got == T.NULL:
        raise ValueError(f"`{text}` is a {got}, but the parameter is a {type_name}")
    value = literal_value(node)
    if want in (T.MONEY, T.NUMBER):
        from decimal import Decimal

        value = Decimal(value)
    return value


def _param_value(spec: dict[str, Any], node: yaml.Node | None, type_name: str,
                 columns: tuple[tuple[str, str], ...], name: str, source: Source,
                 diags: list[Diagnostic], provision: str | None) -> Any:
    raw = spec.get("value")

    def bad(n: yaml.Node | None, msg: str, help: str | None = None) -> None:
        diags.append(Diagnostic(msg, node_span(source, n) if n is not None else None,
                                where=f"parameter `{name}`", provision=provision, help=help,
                                source=source, code="parameter"))

    if raw is None:
        bad(node, f"parameter `{name}` has no value")
        return None
    if type_name == "table":
        if not isinstance(raw, list):
            bad(node, f"parameter `{name}` is a table: its value must be a list of rows")
            return None
        rows: list[dict[str, Any]] = []
        for i, row in enumerate(raw):
            rnode = _child(node, i)
            if not isinstance(row, dict):
                bad(rnode, f"row {i + 1} of `{name}` must be a mapping of columns")
                continue
            out: dict[str, Any] = {}
            for col, ctype in columns:
                cnode = _child(rnode, col)
                if col not in row or cnode is None or not isinstance(cnode, yaml.ScalarNode):
                    bad(rnode, f"row {i + 1} of `{name}` has no value for column `{col}`")
                    continue
                try:
                    out[col] = convert_scalar(str(cnode.value), ctype)
                except ValueError as exc:
                    bad(cnode, f"column `{col}` of row {i + 1}: {exc}")
            for col in row:
                if col not in dict(columns):
                    bad(_key_node(rnode, col), f"row {i + 1} of `{name}` has a column `{col}` "
                        "that the table does not declare",
                        "declare it under `columns:` or remove it")
            rows.append(out)
        return tuple(rows)
    if type_name == "list":
        elem = columns[0][1] if columns else "text"
        items = raw if isinstance(raw, list) else None
        if items is None:
            bad(node, f"parameter `{name}` is a list: write its value as a YAML list")
            return None
        values = []
        for i, _ in enumerate(items):
            inode = _child(node, i)
            if not isinstance(inode, yaml.ScalarNode):
                bad(inode, f"item {i + 1} of `{name}` must be a single value")
                continue
            try:
                values.append(convert_scalar(str(inode.value), elem))
            except ValueError as exc:
                bad(inode, f"item {i + 1} of `{name}`: {exc}")
        return tuple(values)
    if not isinstance(node, yaml.ScalarNode):
        bad(node, f"parameter `{name}` is a {type_name}: its value must be a single value")
        return None
    try:
        return convert_scalar(str(node.value), type_name)
    except ValueError as exc:
        bad(node, str(exc), _value_help(type_name))
        return None


def _value_help(type_name: str) -> str:
    return {
        "date": "write dates as YYYY-MM-DD, e.g. `2025-01-01`",
        "duration": "write durations such as `2 years`, `12 months`, `120 days`",
        "month_day": "write a day of the year such as `15 Oct`",
        "percent": "write a percentage such as `2.5%`",
        "money": "write an amount such as `1000.00`",
        "decimal": "write a number such as `1.25`",
        "integer": "write a whole number",
        "bool": "write `true` or `false`",
    }.get(type_name, f"write a {type_name}")


@dataclass
class _Parts:
    """One file's contribution, before merging with what it extends."""

    raw: _Raw
    ref: str
    params: dict[str, dict[str, Any]]
    param_nodes: dict[str, yaml.Node | None]
    defs: dict[str, DefSpec]


def _build_def(name: str, spec: dict[str, Any], dnode: yaml.Node | None, source: Source,
               ref: str, diags: list[Diagnostic], inherited: DefSpec | None) -> DefSpec | None:
    fnode = _child(dnode, "formula")
    formula = spec.get("formula")
    entity = spec.get("entity") or (inherited.entity if inherited else None)
    provision = spec.get("provision", inherited.provision if inherited else None)
    if not isinstance(formula, str) or fnode is None or not isinstance(fnode, yaml.ScalarNode):
        return None
    positions = ScalarPositions(source, fnode)
    node: A.Node | None = None
    try:
        node = parse_expression(formula)
    except ExpressionSyntaxError as exc:
        diags.append(Diagnostic(exc.message, positions.span(exc.start, max(exc.end, exc.start)),
                                where=f"definition `{name}`", provision=provision,
                                help=exc.help, source=source, code="syntax"))
    enode = _child(dnode, "entity")
    pnode = _child(dnode, "provision")
    return DefSpec(
        name=name, entity=entity or "account", formula=formula, node=node,
        provision=provision, description=spec.get("description"),
        declared_type=spec.get("type"), defined_in=ref,
        key_span=node_span(source, dnode) if dnode is not None else None,
        positions=positions, source=source,
        entity_span=node_span(source, enode) if enode is not None else None,
        provision_positions=(ScalarPositions(source, pnode)
                             if isinstance(pnode, yaml.ScalarNode) else
                             inherited.provision_positions if inherited else None))


def _load_chain(path: Path, root: Path, seen: tuple[Path, ...],
                diags: list[Diagnostic]) -> list[_Raw]:
    """The file and every ancestor it extends, root ancestor first."""
    display = _display_path(path)
    raw = _read_raw(path, display)
    diags.extend(raw.diags)
    parent_ref = raw.data.get("extends")
    if not isinstance(parent_ref, str):
        return [raw]
    enode = _child(raw.root, "extends")
    span = node_span(raw.source, enode) if enode is not None else None
    if len(seen) >= MAX_EXTENDS_DEPTH:
        diags.append(Diagnostic(f"`extends` chain is deeper than {MAX_EXTENDS_DEPTH}", span,
                                source=raw.source, code="extends"))
        return [raw]
    pid, _, version = parent_ref.partition("@")
    index = policy_index(root)
    target = index.get((pid, version)) if version else None
    if target is None and not version:
        versions = sorted((v for (i, v) in index if i == pid), key=_semver_key)
        target = index.get((pid, versions[-1])) if versions else None
    if target is None:
        ids = sorted({f"{i}@{v}" for (i, v) in index})
        sugg = difflib.get_close_matches(parent_ref, ids, n=1)
        diags.append(Diagnostic(f"`extends: {parent_ref}`: no such policy under "
                                f"{_display_path(root)}", span,
                                source=raw.source, code="extends",
                                help=f"did you mean `{sugg[0]}`?" if sugg else None))
        return [raw]
    target = target.resolve()
    if root.resolve() not in target.parents:
        diags.append(Diagnostic(f"`extends: {parent_ref}` leaves the policies root", span,
                                source=raw.source, code="extends"))
        return [raw]
    if target in seen or target == path.resolve():
        chain = " -> ".join(_display_path(p) for p in (*seen, path.resolve(), target))
        diags.append(Diagnostic(f"`extends` cycle: {chain}", span, source=raw.source,
                                code="extends", help="a policy cannot extend itself"))
        return [raw]
    return [*_load_chain(target, root, (*seen, path.resolve()), diags), raw]


def _policies_root_for(path: Path) -> Path:
    for parent in path.resolve().parents:
        if parent.name == "policies":
            return parent
    return policies_root().resolve()


def load_document(ref: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
                  ) -> tuple[PolicyDocument | None, list[Diagnostic]]:
    """Read, validate and merge a policy and what it extends. Never raises for problems in
    the policy text: they are returned as diagnostics (the document is None when it could
    not be built at all). Raises :class:`PolicyLoadError` when the file cannot be found."""
    path = resolve_policy_path(ref, Path(root) if root else None)
    base = Path(root).resolve() if root else _policies_root_for(path)
    diags: list[Diagnostic] = []
    try:
        chain = _load_chain(path, base, (), diags)
    except PolicyLoadError as exc:
        return None, [*diags, *exc.diagnostics]
    if any(not isinstance(r.data.get("policy"), str) for r in chain):
        return None, diags
    return _merge(chain, diags), diags


def _merge(chain: list[_Raw], diags: list[Diagnostic]) -> PolicyDocument:
    provisions: dict[str, ProvisionSpec] = {}
    interpretations: dict[str, str] = {}
    params: dict[str, ParamSpec] = {}
    defs: dict[str, DefSpec] = {}
    invariants: dict[str, InvariantSpec] = {}
    outputs: dict[str, tuple[str, ...]] = {}
    output_spans: dict[tuple[str, str], Span] = {}
    output_names: dict[tuple[str, str], str] = {}
    canonical_chain: list[dict[str, Any]] = []
    for raw in chain:
        d = raw.data
        src = raw.source
        ref = f"{d.get('policy')}@{d.get('version')}"
        for pid, p in (d.get("provisions") or {}).items():
            if isinstance(p, dict):
                provisions[pid] = ProvisionSpec(pid, p.get("text"), bool(p.get("computable", True)),
                                                p.get("reason"))
        for iid, text in (d.get("interpretations") or {}).items():
            interpretations[iid] = str(text)
        pnodes = _child(raw.root, "parameters")
        for name, spec in (d.get("parameters") or {}).items():
            if not isinstance(spec, dict):
                continue
            node = _child(pnodes, name)
            inherited = params.get(name)
            type_name = spec.get("type") or (inherited.type_name if inherited else None)
            if type_name is None:
                diags.append(Diagnostic(f"parameter `{name}` has no `type`",
                                        node_span(src, node) if node else None, source=src,
                                        where=f"parameter `{name}`", code="parameter",
                                        help="add `type:` (date, duration, month_day, integer, "
                                             "decimal, percent, money, text, bool, table, list)"))
                continue
            if inherited and spec.get("type") and spec["type"] != inherited.type_name:
                diags.append(Diagnostic(
                    f"parameter `{name}` is {_a(inherited.type_name)} in {inherited.set_by}; "
                    f"an override cannot make it {_a(str(spec['type']))}",
                    node_span(src, _child(node, "type") or node) if node else None,
                    source=src, where=f"parameter `{name}`", code="parameter"))
                continue
            columns: tuple[tuple[str, str], ...]
            if type_name == "table":
                cols = spec.get("columns") or (dict(inherited.columns) if inherited else None)
                if not isinstance(cols, dict) or not cols:
                    diags.append(Diagnostic(f"table parameter `{name}` declares no `columns`",
                                            node_span(src, node) if node else None, source=src,
                                            code="parameter"))
                    continue
                columns = tuple((str(k), str(v)) for k, v in cols.items())
            elif type_name == "list":
                of = spec.get("of") or (inherited.columns[0][1] if inherited and
                                        inherited.columns else "text")
                columns = (("of", str(of)),)
            else:
                columns = ()
            provision = spec.get("provision", inherited.provision if inherited else None)
            vnode = _child(node, "value")
            pnode = _child(node, "provision")
            ppos = (ScalarPositions(src, pnode) if isinstance(pnode, yaml.ScalarNode)
                    else inherited.provision_positions if inherited else None)
            derived: DefSpec | None = None
            psrc: Source | None
            if "formula" in spec:
                derived = _build_def(name, {**spec, "entity": "parameter"}, node, src, ref,
                                     diags, None)
                value = None
                vspan = derived.span() if derived is not None else None
                set_by = f"derived in {ref}"
                psrc = src
            elif "value" not in spec and inherited is not None:
                value = inherited.value
                vspan = inherited.span
                set_by = inherited.set_by
                psrc = inherited.source
                derived = inherited.derived
            else:
                value = _param_value(spec, vnode, type_name, columns, name, src, diags,
                                     provision)
                vspan = node_span(src, vnode) if vnode is not None else None
                set_by = ref
                psrc = src
            params[name] = ParamSpec(
                name=name, type_name=type_name, type=_param_type(type_name, columns),
                value=value, provision=provision,
                description=spec.get("description", inherited.description if inherited else None),
                set_by=set_by, span=vspan,
                key_span=node_span(src, node) if node is not None else None,
                source=psrc, columns=columns, provision_positions=ppos, derived=derived)
        inodes = _child(raw.root, "invariants")
        for name, spec in (d.get("invariants") or {}).items():
            if not isinstance(spec, dict):
                continue
            built = _build_def(name, {**spec, "entity": "parameter"}, _child(inodes, name),
                               src, ref, diags, None)
            if built is not None:
                invariants[name] = InvariantSpec(name, built, spec.get("message"),
                                                 str(spec.get("severity", "warning")))
        dnodes = _child(raw.root, "definitions")
        for name, spec in (d.get("definitions") or {}).items():
            if not isinstance(spec, dict):
                continue
            built = _build_def(name, spec, _child(dnodes, name), src, ref, diags,
                               defs.get(name))
            if built is not None:
                defs[name] = built
        onode = _child(raw.root, "outputs")
        for entity, names in (d.get("outputs") or {}).items():
            if isinstance(names, list):
                defs_out: list[str] = []
                enode = _child(onode, entity)
                for i, n in enumerate(names):
                    inode = _child(enode, i)
                    if isinstance(n, dict) and len(n) == 1:
                        ((shown, target),) = n.items()
                        n = str(target)
                        output_names[(entity, n)] = str(shown)
                        inode = _child(inode, str(shown)) or inode
                    defs_out.append(str(n))
                    if inode is not None:
                        output_spans[(entity, str(n))] = node_span(src, inode)
                outputs[entity] = tuple(defs_out)
        canonical_chain.append(d)
    last = chain[-1].data
    doc_params = {n: {"type": p.type_name, "value": to_json_value(p.value),
                      "formula": p.derived.formula if p.derived else None,
                      "provision": p.provision, "set_by": p.set_by,
                      "columns": dict(p.columns)} for n, p in sorted(params.items())}
    doc_defs = {n: {"entity": s.entity, "formula": s.formula, "provision": s.provision,
                    "type": s.declared_type} for n, s in sorted(defs.items())}
    canonical_refs = [f"{c.get('policy')}@{c.get('version')}" for c in canonical_chain]
    canonical = {
        "policy": last.get("policy"), "version": last.get("version"),
        "status": last.get("status"), "title": last.get("title"),
        "chain": canonical_refs,
        "provisions": {k: vars(v) for k, v in sorted(provisions.items())},
        "interpretations": dict(sorted(interpretations.items())),
        "parameters": doc_params, "definitions": doc_defs,
        "outputs": {k: [{output_names[(k, n)]: n} if (k, n) in output_names else n
                        for n in v] for k, v in sorted(outputs.items())},
        "invariants": {n: {"formula": i.check.formula, "provision": i.check.provision,
                           "message": i.message, "severity": i.severity}
                       for n, i in sorted(invariants.items())},
    }
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode("utf-8")).hexdigest()
    eff = last.get("effective") or {}
    return PolicyDocument(
        id=str(last.get("policy")), version=str(last.get("version")),
        status=str(last.get("status")), title=str(last.get("title")),
        path=chain[-1].source.path, description=last.get("description"),
        source_info=last.get("source"),
        effective={"from": eff.get("from"), "to": eff.get("to")},
        extends=last.get("extends"), models=last.get("models"),
        provisions=provisions, interpretations=interpretations, parameters=params,
        definitions=defs, outputs=outputs, output_spans=output_spans,
        output_names=output_names,
        sources={r.source.path: r.source for r in chain}, invariants=invariants,
        declared=frozenset(n for r in chain for n in (r.data.get("definitions") or {})),
        chain=tuple(str(c) for c in canonical_refs), files=tuple(r.source.path for r in chain),
        canonical=canonical, sha256=digest)
