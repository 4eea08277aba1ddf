"""Policy files -> a resolved :class:`PolicyDocument`.

YAML is *composed*, never constructed: scalars stay text as written, so no tag can run
code and the position of every node is known. Duplicate keys, anchors/aliases, explicit
tags, text that is not valid Unicode and nesting deeper than :data:`MAX_NESTING` are
refused. The document is validated against ``schemas/policy.schema.json``; formulas and
parameter values are parsed with their file positions; ``extends: ID@VERSION`` is
resolved under the policies root (never outside it) and merged, child over parent. Every
problem becomes a :class:`Diagnostic`; the loader collects them all rather than stopping
at the first, and reports each once: a value refused by the composer or the schema is
left out of what is built afterwards, not reported again for its consequences.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import jsonschema
import jsonschema.exceptions
import yaml

from evaluator.errors import Diagnostic, ExpressionSyntaxError, PolicyLoadError
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.document.index import PolicyIndex
from evaluator.lang.document.positions import ScalarPositions, node_span
from evaluator.lang.parser import parse_expression, parse_literal
from evaluator.lang.values import to_json_value
from evaluator.resources import policies_root, schema_file
from evaluator.span import Source, Span

POLICY_FILE = "policy.yaml"
MAX_POLICY_BYTES = 1_000_000
MAX_EXTENDS_DEPTH = 16
#: collections nest at most this many levels below the document's root mapping
MAX_NESTING = 60
MAX_NODES = 200_000
_STD_TAGS = {
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


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
    #: ids of the nodes the composer refused (a tag, a lone surrogate, ...): reported once,
    #: their values are None in ``data`` and nothing else reads them
    refused: set[int] = field(default_factory=set)

    def usable(self, node: yaml.Node | None) -> bool:
        return node is not None and id(node) not in self.refused


# -- reading YAML ----------------------------------------------------------------------

class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__("policy file nests too deeply")
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """PyYAML's safe composer, stopped at :data:`MAX_NESTING` levels: it composes
    recursively, and would otherwise hit Python's recursion limit on deep input."""

    level = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.level += 1
        try:
            if self.level > MAX_NESTING + 1:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self.level -= 1


#: a lone half of a surrogate pair, which only a YAML escape (`"\ud800"`) can produce
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Composer:
    """Turns composed nodes into plain data, refusing what policies must not contain."""

    def __init__(self, source: Source, diags: list[Diagnostic]) -> None:
        self.source = source
        self.diags = diags
        self.seen: set[int] = set()
        self.refused: set[int] = set()
        self.budget = MAX_NODES

    def error(self, node: yaml.Node, message: str, help: str | None = None,
              path: tuple[str, ...] = (), span: Span | None = None) -> None:
        self.diags.append(Diagnostic(message, span or node_span(self.source, node), help=help,
                                     source=self.source, code="yaml", where=_where(path)))

    def refuse(self, node: yaml.Node, message: str, help: str | None = None,
               span: Span | None = None) -> None:
        self.refused.add(id(node))
        self.error(node, message, help, span=span)

    def bad_text(self, node: yaml.ScalarNode) -> bool:
        """Refuse a scalar holding a lone surrogate (it cannot be written out as UTF-8)."""
        found = _SURROGATE.search(node.value)
        if found is None:
            return False
        at = found.start()
        self.refuse(node, f"text is not valid Unicode: `\\u{ord(node.value[at]):04x}` is half "
                    "of a surrogate pair",
                    "write the character itself, or escape it whole as `\\U` and 8 hex digits",
                    ScalarPositions(self.source, node).span(at, at + 1))
        return True

    def plain(self, node: yaml.Node, path: tuple[str, ...] = ()) -> Any:
        self.budget -= 1
        if self.budget < 0:
            self.refused.add(id(node))
            if self.budget == -1:
                self.error(node, "policy file has too many nodes", "split it or simplify it")
            return None
        self.seen.add(id(node))
        if node.tag not in _STD_TAGS:
            self.refuse(node, f"YAML tag `{node.tag}` is not allowed in policies",
                        "remove the tag; values are written as plain text")
            return None
        if isinstance(node, yaml.ScalarNode):
            if self.bad_text(node):
                return None
            if path and path[-1] in _TEXT_KEYS:
                return str(node.value)  # formulas and citations are read as written
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(n, (*path, str(i))) for i, n in enumerate(node.value)
                    if id(n) not in self.seen]
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    self.error(k, "mapping keys must be plain text")
                    continue
                if self.bad_text(k):
                    continue
                key = str(k.value)
                if id(v) in self.seen:
                    continue  # an alias: reported where it is written, value left out
                if key in out:
                    self.error(k, f"duplicate key `{key}`",
                               "a later value would silently replace the earlier one; "
                               "keep one", path=path)
                    continue
                out[key] = self.plain(v, (*path, key))
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

    def report(message: str, index: int | None, help: str) -> None:
        span = source.span_at(index, index + 1) if index is not None else None
        diags.append(Diagnostic(message, span, source=source, code="yaml", help=help))

    try:
        node: yaml.Node | None = yaml.compose(source.text, Loader=_Loader)
        return node
    except _TooDeep as exc:
        report("policy file nests too deeply", exc.mark.index if exc.mark else None,
               f"policies nest at most {MAX_NESTING} levels; flatten this value")
    except yaml.reader.ReaderError as exc:
        what = ("control characters are not allowed"
                if exc.character < 0x20 or 0x7F <= exc.character <= 0x9F else
                "this character is not allowed")
        escape = (f"\\x{exc.character:02x}" if exc.character <= 0xFF else
                  f"\\u{exc.character:04x}")
        report(f"malformed YAML: unacceptable character #x{exc.character:04x}: {what}",
               exc.position, f"remove it; in a double-quoted string it can be written as "
               f"`{escape}`")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if (exc.context_mark is not None and exc.problem_mark is not None
                and exc.problem_mark.index >= len(source.text.rstrip())):
            mark = exc.context_mark  # an unclosed bracket: point at where it opened
        msg = (exc.problem or "malformed YAML").strip()
        if exc.context:
            msg = f"{msg} ({exc.context.strip()})"
        report(f"malformed YAML: {msg}", mark.index if mark is not None else None,
               "check indentation, colons and quotes near this point")
    except yaml.YAMLError as exc:
        diags.append(Diagnostic(f"malformed YAML: {exc}", None, source=source, code="yaml"))
    return None


#: key text -> (key node, value node) of a mapping node, built once per node
_KEYS: weakref.WeakKeyDictionary[yaml.Node, dict[str, tuple[yaml.Node, yaml.Node]]] = \
    weakref.WeakKeyDictionary()


def _keys(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """The entries of a mapping by key (the first of duplicates, as :class:`_Composer`)."""
    found = _KEYS.get(node)
    if found is None:
        found = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                found.setdefault(str(k.value), (k, v))
        _KEYS[node] = found
    return found


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        entry = _keys(node).get(key)
        return entry[1] if entry else None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
        found: yaml.Node | None = node.value[key] if 0 <= key < len(node.value) else None
        return found
    return None


def _key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        entry = _keys(node).get(key)
        return entry[0] if entry else None
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


_SCHEMA_HELP = "see evaluator/schemas/policy.schema.json for the policy format"


def _schema_diagnostics(source: Source, root: yaml.Node, data: Any,
                        refused: set[int]) -> list[Diagnostic]:
    """The schema's complaints about ``data``, in prose, one per node: a value of the wrong
    type gets only that, and a node the composer refused gets nothing more."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.path)))
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    out: list[Diagnostic] = []
    for err in errors:
        path = tuple(err.absolute_path)
        if (id(_node_at(root, list(path))) in refused
                or (path in mistyped and err.validator != "type")
                # a parameter's value is read by its type, and reported then
                or (len(path) == 3 and path[0] == "parameters" and path[2] == "value")):
            continue
        out.extend(_schema_diagnostic(source, root, err))
    return out


def _schema_diagnostic(source: Source, root: yaml.Node,
                       err: jsonschema.exceptions.ValidationError) -> list[Diagnostic]:
    path = list(err.absolute_path)
    node = _node_at(root, path)
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
                f"unknown key `{key}` in {where}", node_span(source, _key_node(node, key) or node),
                source=source, code="schema",
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
            _key_node(node, instance) is not None:
        # propertyNames: the offending text is a key of this mapping
        node = _key_node(node, instance) or node
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
    elif rule == "not" and isinstance(limit, dict) and limit.get("required"):
        keys = " and ".join(f"`{k}`" for k in limit["required"])
        message = f"`{where}` cannot have both {keys}"
        help_ = "keep one of them"
    else:  # pragma: no cover - every rule the schema uses is handled above
        message = f"`{where}` does not follow the policy format (rule `{rule}`)"
    return [Diagnostic(message, node_span(source, node), source=source, code="schema",
                       help=help_, where=_where(path))]


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


def _read_text(path: Path, display: str) -> Source:
    """The file's text; a file too large, unreadable or not UTF-8 is a PolicyLoadError."""
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise PolicyLoadError(Diagnostic(
                f"{display}: policy file is {size} bytes; the limit is {MAX_POLICY_BYTES}",
                code="io"))
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyLoadError(Diagnostic(f"{display}: cannot read: {exc.strerror}",
                                         code="io")) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # point at the first byte that is not UTF-8
        source = Source(display, data.decode("utf-8", errors="replace"))
        at = len(data[:exc.start].decode("utf-8"))
        raise PolicyLoadError(Diagnostic(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}: {exc.reason})",
            source.span_at(at, at + 1), source=source, code="io",
            help="save the file as UTF-8")) from None
    # line breaks as a file read as text has them (universal newlines)
    return Source(display, text.replace("\r\n", "\n").replace("\r", "\n"))


def _read_raw(path: Path, display: str) -> _Raw:
    diags: list[Diagnostic] = []
    source = _read_text(path, display)
    root = _compose(source, diags)
    if root is None:
        if not diags:
            diags.append(Diagnostic("policy file is empty", Span(display, 1, 1, 1, 1),
                                    source=source, code="yaml"))
        raise PolicyLoadError(diags)
    if not isinstance(root, yaml.MappingNode):
        raise PolicyLoadError(Diagnostic("a policy file must be a mapping of keys",
                                         node_span(source, root), source=source, code="yaml"))
    composer = _Composer(source, diags)
    data = composer.plain(root)
    if not isinstance(data, dict):  # pragma: no cover - root is a mapping
        data = {}
    diags.extend(_schema_diagnostics(source, root, data, composer.refused))
    return _Raw(source, root, data, diags, composer.refused)


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
        index = PolicyIndex.scan(base)
        found = index.find(pid, version)
        if found is not None:
            return found
        versions = index.versions(pid)
        if versions:
            raise PolicyLoadError(Diagnostic(
                f"policy `{pid}` has no version `{version}`", code="io",
                help="known versions: " + ", ".join(versions)))
        ids = index.ids()
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
    shown = text if len(text) <= 60 else text[:40] + "..." + text[-10:]
    try:
        node = parse_literal(text)
    except ExpressionSyntaxError as exc:
        raise ValueError(f"`{shown}` is not a {type_name.replace('_', '-')}: {exc.message}"
                         ) from None
    want = _SCALAR_TYPES[type_name]
    got = literal_type(node)
    if type_name == "percent" and isinstance(node, A.Literal) and node.kind == "int":
        raise ValueError(f"`{shown}` is not a percentage; write it with `%`, e.g. `{shown}%`")
    if not T.assignable(got, want) or got == T.NULL:
        raise ValueError(f"`{shown}` is a {got}, but the parameter is a {type_name}")
    value = literal_value(node)
    if want in (T.MONEY, T.NUMBER):
        from decimal import Decimal

        value = Decimal(value)
    return value


def _param_value(name: str, spec: dict[str, Any], node: yaml.Node | None, raw: _Raw,
                 type_name: str, columns: tuple[tuple[str, str], ...],
                 provision: str | None, diags: list[Diagnostic]) -> Any:
    """The value of parameter ``name`` (its node is ``node``), read by its type. Nodes the
    composer refused are left out without a word: it has reported them."""
    value = spec.get("value")
    vnode = _child(node, "value")

    def bad(n: yaml.Node | None, msg: str, help: str | None = None) -> None:
        n = n if n is not None else node
        diags.append(Diagnostic(msg, node_span(raw.source, n) if n is not None else None,
                                where=f"parameter `{name}`", provision=provision, help=help,
                                source=raw.source, code="parameter"))

    if vnode is not None and not raw.usable(vnode):
        return None
    if value is None:
        bad(vnode, f"parameter `{name}` has no value")
        return None
    if type_name == "table":
        if not isinstance(value, list):
            bad(vnode, f"parameter `{name}` is a table: its value must be a list of rows")
            return None
        rows: list[dict[str, Any]] = []
        for i, row in enumerate(value):
            rnode = _child(vnode, i)
            if not raw.usable(rnode):
                continue
            if not isinstance(row, dict):
                bad(rnode, f"row {i + 1} of `{name}` must be a mapping of columns")
                continue
            out: dict[str, Any] = {}
            for col, ctype in columns:
                cnode = _child(rnode, col)
                if col not in row or not isinstance(cnode, yaml.ScalarNode):
                    bad(rnode, f"row {i + 1} of `{name}` has no value for column `{col}`")
                    continue
                if not raw.usable(cnode):
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
        if not isinstance(value, list):
            bad(vnode, f"parameter `{name}` is a list: write its value as a YAML list")
            return None
        values = []
        for i, _ in enumerate(value):
            inode = _child(vnode, i)
            if not isinstance(inode, yaml.ScalarNode):
                bad(inode, f"item {i + 1} of `{name}` must be a single value")
                continue
            if not raw.usable(inode):
                continue
            try:
                values.append(convert_scalar(str(inode.value), elem))
            except ValueError as exc:
                bad(inode, f"item {i + 1} of `{name}`: {exc}")
        return tuple(values)
    if not isinstance(vnode, yaml.ScalarNode):
        bad(vnode, f"parameter `{name}` is {_a(type_name)}: its value must be a single value")
        return None
    try:
        return convert_scalar(str(vnode.value), type_name)
    except ValueError as exc:
        bad(vnode, str(exc), _value_help(type_name))
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


# Values the schema refuses are reported by it (and those the composer refuses, by the
# composer). What follows builds the document from what is left: an entry whose value
# cannot be used is neutralised, never reported a second time.

def _text(value: Any) -> str | None:
    """Text, or None for anything else (which the schema has reported)."""
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> dict[str, Any]:
    """A mapping, or nothing for anything else (which the schema has reported)."""
    return value if isinstance(value, dict) else {}


def _citation(spec: dict[str, Any], inherited: str | None) -> str | None:
    """The `provision:` of an entry. One that is not text (reported already) is kept
    empty, so that the entry is not reported again as citing nothing."""
    if "provision" not in spec:
        return inherited
    return _text(spec["provision"]) or ""


_PARAM_TYPES = frozenset((*_SCALAR_TYPES, "table", "list"))


def _known_type(name: Any, types: Collection[str]) -> TypeGuard[str]:
    return isinstance(name, str) and name in types


def _param_shape(name: str, spec: dict[str, Any], inherited: ParamSpec | None,
                 report: Callable[[str, str | None], None]
                 ) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """A parameter's type and its columns (or its element type, for a list); None when
    they cannot be known."""
    declared = spec.get("type")
    if "type" in spec and not _known_type(declared, _PARAM_TYPES):
        return None
    type_name = declared or (inherited.type_name if inherited else None)
    if type_name is None:
        report(f"parameter `{name}` has no `type`",
               "add `type:` (date, duration, month_day, integer, decimal, percent, money, "
               "text, bool, table, list)")
        return None
    if type_name == "table":
        cols = spec.get("columns") or (dict(inherited.columns) if inherited else None)
        if "columns" in spec and not (isinstance(cols, dict) and all(
                _known_type(t, _SCALAR_TYPES) for t in cols.values())):
            return None
        if not cols:
            report(f"table parameter `{name}` declares no `columns`",
                   "add `columns:` with the type of each column, e.g. `{opens: month_day}`")
            return None
        return type_name, tuple((str(k), str(v)) for k, v in cols.items())
    if type_name == "list":
        if "of" in spec and not _known_type(spec["of"], _SCALAR_TYPES):
            return None
        of = spec.get("of") or (inherited.columns[0][1] if inherited and inherited.columns
                                else "text")
        return type_name, (("of", str(of)),)
    return type_name, ()


def _build_param(name: str, spec: Any, node: yaml.Node | None, raw: _Raw, ref: str,
                 inherited: ParamSpec | None, diags: list[Diagnostic]) -> ParamSpec | None:
    """Parameter ``name`` of one file, over what it inherits; None to keep that as it is.

    A parameter whose type cannot be known is kept, typed `Never` and without a value, so
    that the formulas using it are not reported for it."""
    src = raw.source
    key_span = node_span(src, node) if node is not None else None

    def report(message: str, help: str | None, at: yaml.Node | None = None) -> None:
        at = at if at is not None else node
        diags.append(Diagnostic(message, node_span(src, at) if at is not None else None,
                                source=src, where=f"parameter `{name}`", code="parameter",
                                help=help))

    def unusable(provision: str | None) -> ParamSpec:
        return ParamSpec(name=name, type_name="unknown", type=T.NEVER, value=None,
                         provision=provision, description=None, set_by=ref,
                         key_span=key_span, source=src)

    if not isinstance(spec, dict):  # the schema or the composer has said why
        return None if inherited else unusable(None)
    declared = spec.get("type")
    if inherited and _known_type(declared, _PARAM_TYPES) and declared != inherited.type_name:
        report(f"parameter `{name}` is {_a(inherited.type_name)} in {inherited.set_by}; "
               f"an override cannot make it {_a(declared)}", None, _child(node, "type"))
        return None
    provision = _citation(spec, inherited.provision if inherited else None)
    shape = _param_shape(name, spec, inherited, report)
    if shape is None:
        return unusable(provision)
    type_name, columns = shape
    vnode = _child(node, "value")
    pnode = _child(node, "provision")
    derived: DefSpec | None = None
    psrc: Source | None = src
    if "formula" in spec:
        derived = _build_def(name, {**spec, "entity": "parameter"}, node, src, ref, diags, None)
        value = None
        vspan = derived.span() if derived is not None else None
        set_by = f"derived in {ref}"
    elif "value" not in spec and inherited is not None:
        value = inherited.value
        vspan = inherited.span
        set_by = inherited.set_by
        psrc = inherited.source
        derived = inherited.derived
    else:
        value = _param_value(name, spec, node, raw, type_name, columns, provision, diags)
        vspan = node_span(src, vnode) if vnode is not None else None
        set_by = ref
    return ParamSpec(
        name=name, type_name=type_name, type=_param_type(type_name, columns), value=value,
        provision=provision,
        description=_text(spec.get("description", inherited.description if inherited
                                   else None)),
        set_by=set_by, span=vspan, key_span=key_span, source=psrc, columns=columns,
        provision_positions=(ScalarPositions(src, pnode) if isinstance(pnode, yaml.ScalarNode)
                             else inherited.provision_positions if inherited else None),
        derived=derived)


def _build_def(name: str, spec: dict[str, Any], dnode: yaml.Node | None, source: Source,
               ref: str, diags: list[Diagnostic], inherited: DefSpec | None) -> DefSpec | None:
    """A definition (or the formula of a derived parameter or an invariant); None when
    its formula or its entity is unusable, which the schema has reported."""
    fnode = _child(dnode, "formula")
    formula = spec.get("formula")
    entity = spec.get("entity", inherited.entity if inherited else "account")
    provision = _citation(spec, inherited.provision if inherited else None)
    if not isinstance(formula, str) or not formula or not isinstance(entity, str) \
            or not isinstance(fnode, yaml.ScalarNode):
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
        name=name, entity=entity, formula=formula, node=node,
        provision=provision, description=_text(spec.get("description")),
        declared_type=_text(spec.get("type")), defined_in=ref,
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

    def refuse(message: str, help: str | None = None) -> list[_Raw]:
        diags.append(Diagnostic(message, span, source=raw.source, code="extends", help=help))
        return [raw]

    if len(seen) >= MAX_EXTENDS_DEPTH:
        return refuse(f"`extends` chain is deeper than {MAX_EXTENDS_DEPTH}")
    pid, _, version = parent_ref.partition("@")
    index = PolicyIndex.scan(root)
    found = index.find(pid, version)
    target = found.resolve() if found is not None else None
    if target is None or root.resolve() not in target.parents:
        link = found or index.outside.get(pid)
        if link is not None:
            return refuse(f"`extends: {parent_ref}` leaves the policies root",
                          f"`{_display_path(link)}` leads out of {_display_path(root)}; "
                          "policies outside it are never read")
        sugg = difflib.get_close_matches(parent_ref, index.refs(), n=1)
        return refuse(f"`extends: {parent_ref}`: no such policy under {_display_path(root)}",
                      f"did you mean `{sugg[0]}`?" if sugg else None)
    if target in seen or target == path.resolve():
        chain = " -> ".join(_display_path(p) for p in (*seen, path.resolve(), target))
        return refuse(f"`extends` cycle: {chain}", "a policy cannot extend itself")
    return [*_load_chain(target, root, (*seen, path.resolve()), diags), raw]


def _policies_root_for(path: Path) -> Path:
    """The nearest folder named `policies` above the policy: on its path as named (through
    any symlinks), else on its real path, else the package's own."""
    for named in (Path(os.path.abspath(path)), path.resolve()):
        for parent in named.parents:
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
    if not all(_buildable(r) for r in chain):
        return None, diags
    return _merge(chain, diags), diags


_SECTIONS = ("effective", "provisions", "interpretations", "parameters", "definitions",
             "outputs", "invariants")


def _buildable(raw: _Raw) -> bool:
    """Whether the file can be built into a document: it has a policy id, and each of its
    sections is a mapping. (When one is not, what the rest of the policy refers to is
    unknown, and checking it would only report that.)"""
    return isinstance(raw.data.get("policy"), str) and all(
        isinstance(raw.data[s], dict) for s in _SECTIONS if s in raw.data)


def _outputs(raw: _Raw, outputs: dict[str, tuple[str, ...]],
             spans: dict[tuple[str, str], Span], names: dict[tuple[str, str], str]) -> None:
    """Read one file's `outputs:` into ``outputs``, ``spans`` and ``names``."""
    onode = _child(raw.root, "outputs")
    for entity, items in _mapping(raw.data.get("outputs")).items():
        if not isinstance(items, list):
            continue
        enode = _child(onode, entity)
        listed: list[str] = []
        for i, item in enumerate(items):
            inode = _child(enode, i)
            if isinstance(item, dict) and len(item) == 1:
                ((shown, target),) = item.items()
                if not isinstance(target, str):
                    continue
                names[(entity, target)] = shown
                inode = _child(inode, shown) or inode
                item = target
            if not isinstance(item, str):
                continue
            listed.append(item)
            if inode is not None:
                spans[(entity, item)] = node_span(raw.source, inode)
        outputs[entity] = tuple(listed)


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
        for pid, p in _mapping(d.get("provisions")).items():
            p = _mapping(p)
            provisions[pid] = ProvisionSpec(pid, _text(p.get("text")),
                                            p.get("computable") is not False,
                                            _text(p.get("reason")))
        for iid, text in _mapping(d.get("interpretations")).items():
            interpretations[iid] = _text(text) or ""
        pnodes = _child(raw.root, "parameters")
        for name, spec in _mapping(d.get("parameters")).items():
            param = _build_param(name, spec, _child(pnodes, name), raw, ref, params.get(name),
                                 diags)
            if param is not None:
                params[name] = param
        inodes = _child(raw.root, "invariants")
        for name, spec in _mapping(d.get("invariants")).items():
            spec = _mapping(spec)
            built = _build_def(name, {**spec, "entity": "parameter"}, _child(inodes, name),
                               src, ref, diags, None)
            if built is not None:
                severity = spec.get("severity")
                invariants[name] = InvariantSpec(
                    name, built, _text(spec.get("message")),
                    severity if severity in ("error", "warning") else "warning")
        dnodes = _child(raw.root, "definitions")
        for name, spec in _mapping(d.get("definitions")).items():
            built = _build_def(name, _mapping(spec), _child(dnodes, name), src, ref, diags,
                               defs.get(name))
            if built is not None:
                defs[name] = built
        _outputs(raw, outputs, output_spans, output_names)
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
    # the effective dates of the nearest policy of the chain that states them
    eff = next((_mapping(r.data.get("effective")) for r in reversed(chain)
                if r.data.get("effective") is not None), {})
    return PolicyDocument(
        id=str(last.get("policy")), version=str(last.get("version")),
        status=str(last.get("status")), title=str(last.get("title")),
        path=chain[-1].source.path, description=_text(last.get("description")),
        source_info=last.get("source"),
        effective={"from": _text(eff.get("from")), "to": _text(eff.get("to"))},
        extends=_text(last.get("extends")), models=_text(last.get("models")),
        provisions=provisions, interpretations=interpretations, parameters=params,
        definitions=defs, outputs=outputs, output_spans=output_spans,
        output_names=output_names,
        sources={r.source.path: r.source for r in chain}, invariants=invariants,
        declared=frozenset(n for r in chain for n in _mapping(r.data.get("definitions"))),
        chain=tuple(str(c) for c in canonical_refs), files=tuple(r.source.path for r in chain),
        canonical=canonical, sha256=digest)
