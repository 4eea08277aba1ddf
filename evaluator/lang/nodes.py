"""Expression syntax tree: frozen nodes, each carrying the span of its source text.

Spans here are offsets into the expression text (``start``, ``end``); the loader maps
them to file positions through
:class:`evaluator.lang.document.positions.ScalarPositions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Node:
    start: int = field(default=0, compare=False, kw_only=True)
    end: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Literal(Node):
    #: runtime value (date, Duration, MonthDay, int, Decimal, str, bool or None)
    value: Any
    #: literal kind: date, duration, month_day, int, decimal, percent, text, bool, null
    kind: str
    #: the literal as written, for unparsing and messages
    text: str


@dataclass(frozen=True, slots=True)
class Name(Node):
    id: str


@dataclass(frozen=True, slots=True)
class Attr(Node):
    obj: Node
    name: str


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # + - * / ?? == != < <= > >= in "not in" and or
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class If(Node):
    cond: Node
    then: Node
    orelse: Node


@dataclass(frozen=True, slots=True)
class Comprehension(Node):
    element: Node
    var: str
    iterable: Node
    cond: Node | None


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]
    #: offsets of the function name, for "unknown function" diagnostics
    name_end: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]

    @property
    def comprehension(self) -> Comprehension | None:
        """The comprehension of ``[e for x in xs]`` (which the parser writes as a list of
        one :class:`Comprehension`); None for any other list."""
        if len(self.items) == 1 and type(self.items[0]) is Comprehension:
            return self.items[0]
        return None


@dataclass(frozen=True, slots=True)
class RecordLit(Node):
    fields: tuple[tuple[str, Node], ...]


def kind(node: Node) -> str:
    """The name a visitor dispatches on: the class name, except ``ListComp`` for
    ``[e for x in xs]``, which the parser writes as a ``ListLit`` holding one
    ``Comprehension`` (and tests compare trees, so the tree keeps that shape)."""
    if type(node) is ListLit and len(node.items) == 1 and type(node.items[0]) is Comprehension:
        return "ListComp"
    return type(node).__name__


class NodeVisitor(Generic[R]):
    """As jinja2's: ``visit`` calls ``visit_<kind>(node, *args)``, else ``generic_visit``.
    A pass keeps its own entry method (``infer``, ``val``, ``compile``) that records
    per-node results and calls ``visit``; children are visited through that entry.

    Kinds: ``Literal, Name, Attr, Unary, Binary, If, Call, ListComp, ListLit, RecordLit,
    Comprehension`` (see :func:`kind`)."""

    def visit(self, node: Node, *args: Any) -> R:
        method = getattr(self, "visit_" + kind(node), None)
        if method is None:
            return self.generic_visit(node, *args)
        result: R = method(node, *args)
        return result

    def generic_visit(self, node: Node, *args: Any) -> R:
        raise TypeError(f"no visit_{kind(node)} for {node!r}")


ARITH_OPS = frozenset({"+", "-", "*", "/"})
COMPARE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
BOOL_OPS = frozenset({"and", "or"})
_PRECEDENCE = {
    "or": 1, "and": 2, "not": 3,
    "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "in": 4, "not in": 4,
    "??": 5, "+": 6, "-": 6, "*": 7, "/": 7, "neg": 8,
}


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, in source order."""
    if isinstance(node, Attr):
        return (node.obj,)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, If):
        return (node.cond, node.then, node.orelse)
    if isinstance(node, Comprehension):
        tail = (node.cond,) if node.cond is not None else ()
        return (node.element, node.iterable, *tail)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListLit):
        return node.items
    if isinstance(node, RecordLit):
        return tuple(v for _, v in node.fields)
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of a tree, pre-order."""
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(children(n)))
    return out


def depth(node: Node) -> int:
    """How many nodes the longest path from ``node`` down to a leaf has (a leaf is 1)."""
    levels = 0
    level = [node]
    while level:
        levels += 1
        level = [c for n in level for c in children(n)]
    return levels


def unparse(node: Node) -> str:
    """Expression text that parses back to an equal tree."""
    return _unparse(node, 0)


def _prec(node: Node) -> int:
    if isinstance(node, If):
        return 0
    if isinstance(node, Binary):
        return _PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return _PRECEDENCE["not"] if node.op == "not" else _PRECEDENCE["neg"]
    return 9


def _unparse(node: Node, ctx: int) -> str:
    text = _unparse_bare(node)
    return f"({text})" if _prec(node) < ctx else text


def _unparse_bare(node: Node) -> str:
    if isinstance(node, Literal):
        return node.text
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Attr):
        return f"{_unparse(node.obj, 9)}.{node.name}"
    if isinstance(node, Unary):
        if node.op == "not":
            return f"not {_unparse(node.operand, _PRECEDENCE['not'])}"
        return f"-{_unparse(node.operand, _PRECEDENCE['neg'])}"
    if isinstance(node, Binary):
        p = _PRECEDENCE[node.op]
        if p == 4:  # comparisons do not chain
            return f"{_unparse(node.left, 5)} {node.op} {_unparse(node.right, 5)}"
        return f"{_unparse(node.left, p)} {node.op} {_unparse(node.right, p + 1)}"
    if isinstance(node, If):
        return (f"if {_unparse(node.cond, 0)} then {_unparse(node.then, 0)} "
                f"else {_unparse(node.orelse, 0)}")
    if isinstance(node, Comprehension):
        cond = f" if {_unparse(node.cond, 1)}" if node.cond is not None else ""
        return f"{_unparse(node.element, 0)} for {node.var} in {_unparse(node.iterable, 1)}{cond}"
    if isinstance(node, Call):
        if len(node.args) == 1 and isinstance(node.args[0], Comprehension):
            return f"{node.func}({_unparse_bare(node.args[0])})"
        return f"{node.func}({', '.join(_unparse(a, 0) for a in node.args)})"
    if isinstance(node, ListLit):
        if len(node.items) == 1 and isinstance(node.items[0], Comprehension):
            return f"[{_unparse_bare(node.items[0])}]"
        return f"[{', '.join(_unparse(a, 0) for a in node.items)}]"
    if isinstance(node, RecordLit):
        return "{" + ", ".join(f"{k}: {_unparse(v, 0)}" for k, v in node.fields) + "}"
    raise TypeError(f"unknown node {node!r}")
