"""The hardened YAML reader: a file's text, composed into nodes and turned into plain data.

YAML is *composed*, never constructed: scalars stay text as written, so no tag can run
code and the position of every node is known. :func:`read_text` refuses files too large,
unreadable or not UTF-8; :func:`compose` refuses anchors/aliases (before composing, so an
alias bomb never expands) and nesting deeper than :data:`MAX_NESTING`, and reports
malformed YAML at its position; :class:`Composer` turns the nodes into plain data,
refusing duplicate keys, explicit tags, text that is not valid Unicode and more than
:data:`MAX_NODES` nodes. :func:`child`, :func:`key_node` and :func:`node_at` find the node
of a value again, to report at it. Every problem is a :class:`Diagnostic` (code ``yaml``).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evaluator.errors import Code, Diagnostic, PolicyLoadError
from evaluator.lang.document.positions import ScalarPositions, node_span
from evaluator.span import Source, Span

MAX_POLICY_BYTES = 1_000_000
#: collections nest at most this many levels below the document's root mapping
MAX_NESTING = 60
MAX_NODES = 200_000
_STD_TAGS = {
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


@dataclass
class RawFile:
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


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__("policy file nests too deeply")
        self.mark = mark


class DepthLimitedLoader(yaml.SafeLoader):
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


#: keys whose scalar values are read as written, whatever YAML would resolve them to
POLICY_TEXT_KEYS = frozenset({"formula", "provision", "type", "description", "title"})


class Composer:
    """Turns composed nodes into plain data, refusing what policies must not contain.

    Scalars become YAML 1.1 plain data (text, whole numbers, booleans, None; a float stays
    its text), except under a key of ``text_keys``, which stay text as written."""

    def __init__(self, source: Source, diags: list[Diagnostic],
                 text_keys: Collection[str] = POLICY_TEXT_KEYS) -> None:
        self.source = source
        self.diags = diags
        self.text_keys = text_keys
        self.seen: set[int] = set()
        self.refused: set[int] = set()
        self.budget = MAX_NODES

    def error(self, node: yaml.Node, message: str, help: str | None = None,
              path: tuple[str, ...] = (), span: Span | None = None) -> None:
        self.diags.append(Diagnostic(message, span or node_span(self.source, node), help=help,
                                     source=self.source, code=Code.YAML, where=where_of(path)))

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
            if path and path[-1] in self.text_keys:
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


def where_of(path: tuple[str, ...] | list[str | int]) -> str | None:
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
                    code=Code.YAML, help="write the value out, or share it with `extends`"))
    except yaml.YAMLError:
        return False  # composition reports it with its position
    return found


def compose(source: Source, diags: list[Diagnostic]) -> yaml.Node | None:
    # composition shares an anchored node between its uses, so it never expands an
    # alias bomb; the walk below visits each node once and skips repeated ones
    _aliases(source, diags)

    def report(message: str, index: int | None, help: str) -> None:
        span = source.span_at(index, index + 1) if index is not None else None
        diags.append(Diagnostic(message, span, source=source, code=Code.YAML, help=help))

    try:
        node: yaml.Node | None = yaml.compose(source.text, Loader=DepthLimitedLoader)
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
        diags.append(Diagnostic(f"malformed YAML: {exc}", None, source=source, code=Code.YAML))
    return None


#: key text -> (key node, value node) of a mapping node, built once per node
_KEYS: weakref.WeakKeyDictionary[yaml.Node, dict[str, tuple[yaml.Node, yaml.Node]]] = \
    weakref.WeakKeyDictionary()


def _keys(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """The entries of a mapping by key (the first of duplicates, as :class:`Composer`)."""
    found = _KEYS.get(node)
    if found is None:
        found = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                found.setdefault(str(k.value), (k, v))
        _KEYS[node] = found
    return found


def child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        entry = _keys(node).get(key)
        return entry[1] if entry else None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
        found: yaml.Node | None = node.value[key] if 0 <= key < len(node.value) else None
        return found
    return None


def key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        entry = _keys(node).get(key)
        return entry[0] if entry else None
    return None


def node_at(root: yaml.Node, path: list[str | int]) -> yaml.Node:
    node: yaml.Node = root
    for p in path:
        nxt = child(node, p)
        if nxt is None:
            break
        node = nxt
    return node


def read_text(path: Path, display: str) -> Source:
    """The file's text; a file too large, unreadable or not UTF-8 is a PolicyLoadError."""
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise PolicyLoadError(Diagnostic(
                f"{display}: policy file is {size} bytes; the limit is {MAX_POLICY_BYTES}",
                code=Code.IO))
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyLoadError(Diagnostic(f"{display}: cannot read: {exc.strerror}",
                                         code=Code.IO)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # point at the first byte that is not UTF-8
        source = Source(display, data.decode("utf-8", errors="replace"))
        at = len(data[:exc.start].decode("utf-8"))
        raise PolicyLoadError(Diagnostic(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}: {exc.reason})",
            source.span_at(at, at + 1), source=source, code=Code.IO,
            help="save the file as UTF-8")) from None
    # line breaks as a file read as text has them (universal newlines)
    return Source(display, text.replace("\r\n", "\n").replace("\r", "\n"))
