"""Size and step bounds: no value a policy makes can be larger than a fixed multiple of
the facts it is built from, and no formula goes through more than a fixed number of
elements, whatever the chain of definitions (the second half of the cost check of
:mod:`evaluator.lang.check.cost`; its diagnostics have code ``cost`` too).

Going through each list once is not enough: a value can grow with the *policy*, whatever
the facts, and then each step costs its size. ``t1: t0 + t0``, ``t2: t1 + t1``... makes
``t30`` 2**30 times as long as ``t0`` (the language's "billion laughs"); so does a list
doubled at each definition, ``format("{}{}", t, t)``, a record holding a value twice, an
Int multiplied by itself (its digits double), or comprehensions nested in one formula,
each using its variable twice. So every value also gets an upper bound on its size
(:class:`Size`: characters of a text, elements of a list with the size of each, fields of
a record with their names, digits of a number), of the form ``c + k u + N (nc + nk u)``:

- ``c``: characters known at check time (literals; a parameter's value as written);
- ``k``: copies of *one value* of the facts or of a parameter (``u`` is the size of the
  largest such value: an id, a type, a parameter as set with ``--param``);
- ``nc``, ``nk``: the same for each element of a list of the facts (``N`` is its length).
  A comprehension over a list of the facts makes, for each element, a value bounded
  like any other; the list is linear in the facts (``join(e.type for e in events)`` is
  ``N (1 + u)``), and its multiplier is kept apart so that doubling it is still seen. A
  comprehension over a list of the facts whose element grows with the facts itself
  (``[x.attachments for x in events]``) is still linear: by the ownership rule (of
  :mod:`evaluator.lang.check.cost`) the element can only use lists of ``x``, and those
  of different elements are disjoint.

Each operation combines the bounds of its operands: ``+`` of texts or lists adds them,
``if`` and ``??`` take the larger, a comprehension multiplies its iterable's length by
its element's size, ``format``/``text`` add their arguments written out (each ``{}``
takes the next argument once; a list or a record written out is at most 10 characters
per character or element, Python's ``repr`` of ``\\U000e0001``), ``join`` adds its list
and one separator per element. Numbers: the digits of a product are those of its
factors added up, of a sum one more than the larger. Decimal arithmetic rounds to 28
digits with exponents within +-999,999, so a computed Number's text is never longer than
:data:`DECIMAL_TEXT` (and squaring a Money is harmless); a Python Int's is unbounded.
Compound interest, ``principal x (1 + rate)^t`` for ``t`` up to 10,000 years, has at
most 10,000 times the digits of the rate as written.

A text, list or record that can be larger than :data:`LIMIT` (1,000,000 characters,
elements or digits in all), or an Int that can have more than :data:`INT_LIMIT` digits
(10,000: Python refuses to write more than 4,300, and converting an Int to a Decimal takes
time quadratic in its digits), counting one value of the facts or of a parameter as
:data:`INPUT` (1,000 characters, the longest id a facts file may give), or that can
hold more than that for each element of a list of the facts, is an error. It is
reported at the smallest sub-expression that crosses the limit (for a chain, at the first
definition of the chain that does), and not again for what is built from it. A doubling
chain crosses it after 10 links from a value of the facts, after about 17 from a short
literal; squaring an Int after 10 from a count: no policy needs any of these, and a
value of a million characters costs little to build per record. The check itself runs
once per node and definition (definitions in dependency order, with a stack, not
recursion), and its bounds saturate at :data:`CAP`.

Steps: with lengths bounded, one more thing grows with the policy rather than the facts.
A comprehension over a list that is not of the facts (a literal, a table, a list built by
definitions) is free for the ownership rule, but comprehensions over such lists nested in
one another multiply: four over the same 100 numbers take 10**8 steps per record, and a
formula of a few hundred characters can nest enough of them never to finish. So each
formula also gets a bound on the elements one evaluation of it goes through (those of
every comprehension, times those of the comprehensions it is in; lists searched with
``in``, compared with ``==``, given to a function), with the same ``c`` and ``N nc``
parts; over :data:`STEP_LIMIT` (10,000,000) is an error, at the smallest sub-expression
that crosses it. A definition it uses is evaluated once per record and counted in its own
formula.

Parameters are bounded by their value as written, and a scalar one (text, number...)
also by one value ``u``, as ``--param`` may set it to any value. Two things ``--param``
can do are not bounded here (the operator's values, not the policy's): a list parameter
is bounded by its length as written, and a longer one multiplies the bounds of what goes
through it by the ratio of the lengths, once for each comprehension over it that goes
through another (``l1: [l0 for x in codes]``, ``l2: [l1 for x in codes]``...); and a rate set
to an absurd value makes compound interest as long as :data:`DECIMAL_TEXT`. Nothing is
evaluated before the check: derived parameters, invariants and global definitions are
evaluated only once the checker has accepted the policy (``policy.load_policy``), and the
columnar backend folds constants only when it compiles a checked policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from evaluator.errors import Code, Diagnostic
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.check.graph import dependency_order
from evaluator.lang.check.model import CheckedDef, CheckedPolicy, Resolved
from evaluator.lang.document.loader import DefSpec

#: the multiplication sign of messages (`accounts TIMES events`)
TIMES = "\u00d7"
#: builtins that take O(1) time whatever the length of their list, when it is named (a
#: field or a definition: the list already exists)
O1_ON_NAMED_LIST = frozenset({"count", "first", "last"})


def definition_order(defs: Mapping[str, CheckedDef]) -> list[str]:
    """Definitions, each after those it uses (the order both halves of the cost check walk)."""
    return dependency_order(defs, lambda n: sorted((u for u in defs[n].uses if u in defs),
                                                   reverse=True))


#: the most a value may hold, counting characters of texts, elements of lists and fields
#: of records (with their names), digits of Ints
LIMIT = 1_000_000
#: the most digits an Int may have: Python refuses to write one of more than 4,300
#: (``text``, outputs), and turning one into a Decimal (``/``, with a Number or Money)
#: takes time quadratic in its digits (about 1.5 ms for 10,000)
INT_LIMIT = 10_000
#: the most elements one evaluation of a formula may go through, counting those of every
#: comprehension (times those of the comprehensions it is in), of lists searched with
#: ``in`` and of lists given to functions: ten million take seconds in Python
STEP_LIMIT = 10_000_000
#: what one value of the facts or of a parameter counts as, in characters: the longest
#: id a facts file may give (``facts.MAX_ID_LENGTH``)
INPUT = 1_000
#: how long compound interest may run, in years: from 0001-01-01 to 9999-12-31
_YEARS = 10_000
#: bounds saturate here, so that the check itself only ever handles small ints
CAP = 10**18
#: the longest text a Decimal (Number, Money) can have under the default context
#: (28 digits, exponents within +-999,999, so 1,000,026 zeros after the point at most),
#: whatever the arithmetic that made it
DECIMAL_TEXT = 1_000_030


@dataclass(frozen=True, slots=True)
class Size:
    """An upper bound on the size of a value: ``c + k u + N (nc + nk u)``, where ``u``
    is the size of one value of the facts or of a parameter (an id, a type, a parameter
    as overridden) and ``N`` the length of a list of the facts.

    ``c``: characters (elements, digits) known at check time. ``k``: copies of values of
    the facts or of parameters. ``nc`` and ``nk``: the same, for each element of a list of
    the facts (a list of the facts is gone through once: a comprehension over it is linear
    in the facts, and the size of what it makes for each element is bounded here).
    ``unit`` and ``each`` name a value counted in ``k`` and a list counted in ``N``, for
    messages. ``over``: already reported (so that what is built from it is not)."""

    c: int = 0
    k: int = 0
    nc: int = 0
    nk: int = 0
    unit: str = ""
    each: str = ""
    over: bool = False

    def weight(self) -> int:
        """Characters, counting each value of the facts or of a parameter as INPUT."""
        return self.c + INPUT * self.k

    def per_element(self) -> int:
        """Characters for each element of a list of the facts, counted the same way."""
        return self.nc + INPUT * self.nk


ZERO = Size()


def _sat(n: int) -> int:
    return n if n < CAP else CAP


def _plus(*sizes: Size) -> Size:
    """The size of the values one after the other (a concatenation)."""
    c = k = nc = nk = 0
    unit = each = ""
    over = False
    for s in sizes:
        c, k, nc, nk = c + s.c, k + s.k, nc + s.nc, nk + s.nk
        unit = _name(unit, s.unit)
        each = _name(each, s.each)
        over = over or s.over
    return Size(_sat(c), _sat(k), _sat(nc), _sat(nk), unit, each, over)


def _either(a: Size, b: Size) -> Size:
    """The size of a value that is ``a`` or ``b``."""
    return Size(max(a.c, b.c), max(a.k, b.k), max(a.nc, b.nc), max(a.nk, b.nk),
                _name(a.unit, b.unit), _name(a.each, b.each), a.over or b.over)


#: marks the name of a value (or a list) counted with others
_OTHERS = "\0"


def _name(a: str, b: str) -> str:
    """The name, for messages, of what two sizes count: one of them, marked when they
    count different values (the names stay as short as the policy's)."""
    if not b or a == b:
        return a
    if not a:
        return b
    return a if a.endswith(_OTHERS) else a + _OTHERS


def _scale(s: Size, n: int) -> Size:
    return Size(_sat(s.c * n), _sat(s.k * n), _sat(s.nc * n), _sat(s.nk * n), s.unit,
                s.each, s.over)


def _times(length: Size, s: Size) -> tuple[Size, bool]:
    """``length`` values of size ``s`` (the elements of a comprehension, a separator between
    them), and whether that is more than linear in the facts: ``s`` grows with a list of
    the facts other than the one ``length`` counts. Lengths have no ``k`` or ``nk`` part.

    ``N x N`` is counted as ``N`` here: in a comprehension over a list of the facts, the
    only lists of the facts the element may use are those of the element itself (the
    ownership rule of :mod:`evaluator.lang.check.cost`), and those of different elements are disjoint."""
    c, n = length.c, length.nc
    out = Size(_sat(c * s.c), _sat(c * s.k), _sat(c * s.nc + n * (s.c + s.nc)),
               _sat(c * s.nk + n * (s.k + s.nk)), s.unit, s.each or length.each,
               s.over or length.over)
    return out, bool(n and (s.nc or s.nk))


def _with(s: Size, c: int) -> Size:
    """``s`` and ``c`` more characters."""
    return Size(_sat(s.c + c), s.k, s.nc, s.nk, s.unit, s.each, s.over)


def _decimal(s: Size) -> Size:
    """A Number's size (the length of its text): never more than DECIMAL_TEXT."""
    if s.c + s.k + s.nc + s.nk < DECIMAL_TEXT:
        return s
    return Size(DECIMAL_TEXT, over=s.over)


@dataclass(frozen=True, slots=True)
class Shape:
    """What the size check knows of a value: its size, and for a list the number of its
    elements and one element, for a record its fields."""

    size: Size = ZERO
    length: Size | None = None
    elem: Shape | None = None
    fields: tuple[tuple[str, Shape], ...] = ()

    def field(self, name: str) -> Shape | None:
        for k, v in self.fields:
            if k == name:
                return v
        return None


NOTHING = Shape()


def _join(a: Shape, b: Shape) -> Shape:
    """A value that is ``a`` or ``b``."""
    if a is NOTHING:
        return b
    if b is NOTHING:
        return a
    length = a.length if b.length is None else b.length if a.length is None \
        else _either(a.length, b.length)
    elem = a.elem if b.elem is None else b.elem if a.elem is None else _join(a.elem, b.elem)
    names = [k for k, _ in a.fields] + [k for k, _ in b.fields if a.field(k) is None]
    fields = tuple((k, _join(a.field(k) or NOTHING, b.field(k) or NOTHING)) for k in names)
    return Shape(_either(a.size, b.size), length, elem, fields)


def _join_all(shapes: Iterable[Shape]) -> Shape:
    out = NOTHING
    for s in shapes:
        out = _join(out, s)
    return out


def _poison(s: Shape) -> Shape:
    """``s``, reported: nothing built from it is reported again."""
    return Shape(dataclasses.replace(s.size, over=True),
                 dataclasses.replace(s.length, over=True) if s.length is not None else None,
                 _poison(s.elem) if s.elem is not None else None,
                 tuple((k, _poison(f)) for k, f in s.fields))


def _list(length: Size, elem: Shape) -> Shape:
    """A list of ``length`` elements like ``elem``."""
    each, _ = _times(length, elem.size)
    return Shape(_plus(length, each), length, elem)


def _scalar(t: T.Type) -> Shape:
    """A value of type ``t`` whose size is known from its type alone (its text's length)."""
    t = T.strip(t)
    if t == T.DATE:
        return Shape(Size(10))
    if t == T.MONTH_DAY:
        return Shape(Size(6))
    if t in (T.BOOL, T.NULL):
        return Shape(Size(5))
    if isinstance(t, T.EntityT):
        return Shape(Size(1))  # a reference to a record of the facts
    return NOTHING


def _input(t: T.Type, unit: str) -> Shape:
    """One value of the facts (or a parameter, as it may be overridden) of type ``t``."""
    s = T.strip(t)
    if isinstance(s, T.ListT):
        return _list(Size(nc=1, each=unit), _input(s.elem, unit))
    if isinstance(s, T.RecordT):
        return Shape(_plus(*(Size(len(k) + 1) for k, _ in s.fields),
                           *(_input(f, unit).size for _, f in s.fields)),
                     fields=tuple((k, _input(f, unit)) for k, f in s.fields))
    if s in (T.TEXT, T.INT, T.NUMBER, T.MONEY, T.DURATION):
        return Shape(Size(k=1, unit=unit))
    return _scalar(s)


def _known(value: object) -> Shape:
    """The shape of a value known at check time (a parameter's)."""
    if value is None:
        return Shape(Size(4))
    if isinstance(value, bool):
        return Shape(Size(5))
    if isinstance(value, str):
        return Shape(Size(len(value)))
    if isinstance(value, int):
        return Shape(Size(value.bit_length() * 30103 // 100000 + 2))
    if isinstance(value, Decimal):
        if not value.is_finite():
            return Shape(Size(9))
        t = value.as_tuple()
        exp = t.exponent if isinstance(t.exponent, int) else 0
        return Shape(Size(_sat(len(t.digits) + abs(exp) + 2)))
    if isinstance(value, list | tuple):
        items = [_known(v) for v in value]
        return Shape(_plus(Size(len(items)), *(i.size for i in items)), Size(len(items)),
                     _join_all(items))
    if isinstance(value, dict):
        fields = tuple((str(k), _known(v)) for k, v in value.items())
        return Shape(_plus(*(Size(len(k) + 1) for k, _ in fields), *(f.size for _, f in fields)),
                     fields=fields)
    return Shape(Size(len(str(value))))  # dates, durations, days of the year


def _as_text(s: Shape, t: T.Type) -> Size:
    """The size of ``text(v)`` (and of ``v`` in ``format``) for ``v`` of shape ``s``: a
    list or a record is written with the quotes, commas and escapes of Python's ``repr``,
    at most 10 characters for each character or element (``\\U000e0001``)."""
    base = T.strip(t)
    if base == T.TEXT:
        return _with(s.size, 4 if T.is_optional(t) else 0)
    if base in (T.INT, T.NUMBER, T.MONEY):
        return _with(s.size, 2)  # a sign, a point
    if base == T.DURATION:  # months and days, each with its unit
        return _with(_scale(s.size, 2), 25)
    if isinstance(base, T.ListT | T.RecordT | T.EntityT):
        return _with(_scale(s.size, 10), 2)
    return _with(s.size, 5)


@dataclass
class _SizeUnit:
    spec: DefSpec
    where: str


#: comprehension variables in scope, innermost last
_Locals = tuple[tuple[str, Shape], ...]


class SizeCheck(A.NodeVisitor[Shape]):
    """Bounds every value a policy can make and the steps of every formula, and reports
    those over :data:`LIMIT` (:data:`INT_LIMIT`) and :data:`STEP_LIMIT`."""

    def __init__(self, checked: CheckedPolicy) -> None:
        self.checked = checked
        self.res: dict[int, Resolved] = checked.resolutions
        self.types: dict[int, T.Type] = checked.types
        self.defs: dict[str, Shape] = {}
        self.params: dict[str, Shape] = {}
        self.diags: list[Diagnostic] = []
        #: id(node) -> its weight, for the nodes of the formula being checked (to say,
        #: of a node over the limit, whether it doubles what it is made of)
        self.weights: dict[int, int] = {}
        #: id(node) -> its shape, for the nodes of the formula being checked
        self.shapes: dict[int, Shape] = {}

    def run(self) -> list[Diagnostic]:
        checked = self.checked
        for name, p in checked.document.parameters.items():
            self.params[name] = self.parameter(p.type, p.type_name, p.value, name)
        # derived parameters use parameters only, and come each after those it uses
        for name, cdef in checked.derived.items():
            formula = self.formula(cdef, f"parameter `{name}`")
            p = checked.document.parameters[name]
            base = T.strip(p.type)
            # set with --param, a derived parameter is one value like any other
            self.params[name] = formula if isinstance(base, T.ListT) \
                else _join(formula, _input(base, name))
        for name in definition_order(checked.defs):
            self.defs[name] = self.formula(checked.defs[name], f"definition `{name}`")
        for name, cdef in checked.invariants.items():
            self.formula(cdef, f"invariant `{name}`")
        return self.diags

    @staticmethod
    def parameter(ptype: T.Type, type_name: str, value: object, name: str) -> Shape:
        """A parameter as written in the policy or, for a scalar or a list's items, as set
        with ``--param`` (then one value, of any length)."""
        t = T.strip(ptype)
        known = _known(value) if value is not None else NOTHING
        if type_name == "table":
            return known if value is not None else _list(ZERO, _input(
                t.elem if isinstance(t, T.ListT) else T.NEVER, name))
        if isinstance(t, T.ListT):
            elem = _join(known.elem or NOTHING, _input(t.elem, name))
            length = known.length or ZERO
            return _list(length, elem)
        return _join(known, _input(t, name))

    def formula(self, cdef: CheckedDef, where: str) -> Shape:
        spec = cdef.spec
        if spec.node is None:
            return NOTHING
        self.weights = {}
        self.shapes = {}
        unit = _SizeUnit(spec, where)
        shape = self.val(spec.node, (), unit)
        self.steps(spec.node, unit)
        return shape

    # -- values ------------------------------------------------------------------------

    def type_of(self, node: A.Node) -> T.Type:
        return self.types.get(id(node), T.NEVER)

    def val(self, node: A.Node, local: _Locals, unit: _SizeUnit) -> Shape:
        shape = self.visit(node, local, unit)
        if T.is_unknown(self.type_of(node)):
            # reported by the checker (an unknown function, a wrong type): not a value to
            # bound, nor one that makes what uses it large (its parts are still checked)
            shape = NOTHING
        s = shape.size
        self.weights[id(node)] = max(s.weight(), s.per_element())
        self.shapes[id(node)] = shape
        if isinstance(node, A.Literal | A.Name | A.Attr | A.If) or (
                isinstance(node, A.Binary) and node.op == "??"):
            return shape  # given, or chosen: no larger than what it is made of
        if s.over:
            return shape
        t = T.strip(self.type_of(node))
        if not (t in (T.TEXT, T.INT) or isinstance(t, T.ListT | T.RecordT)):
            return shape
        limit = INT_LIMIT if t == T.INT else LIMIT
        if s.weight() > limit or s.per_element() > limit:
            self.report(node, shape, t, unit, limit)
            return _poison(shape)
        return shape

    def visit_Literal(self, node: A.Literal, local: _Locals, unit: _SizeUnit) -> Shape:
        if node.kind == "text":
            return Shape(Size(len(str(node.value))))
        if node.kind in ("int", "decimal", "percent", "duration"):
            return Shape(Size(len(node.text) + 2))
        return _scalar(self.type_of(node))

    def visit_Unary(self, node: A.Unary, local: _Locals, unit: _SizeUnit) -> Shape:
        operand = self.val(node.operand, local, unit)
        if node.op == "not":
            return _scalar(T.BOOL)
        return Shape(_with(operand.size, 1))

    def visit_If(self, node: A.If, local: _Locals, unit: _SizeUnit) -> Shape:
        self.val(node.cond, local, unit)
        return _join(self.val(node.then, local, unit), self.val(node.orelse, local, unit))

    def visit_ListComp(self, node: A.ListLit, local: _Locals, unit: _SizeUnit) -> Shape:
        # the comprehension is recorded and checked against the limit as a node of its own
        return self.val(node.items[0], local, unit)

    def visit_ListLit(self, node: A.ListLit, local: _Locals, unit: _SizeUnit) -> Shape:
        items = [self.val(i, local, unit) for i in node.items]
        n = Size(len(items))
        return Shape(_plus(n, *(i.size for i in items)), n, _join_all(items))

    def visit_RecordLit(self, node: A.RecordLit, local: _Locals, unit: _SizeUnit) -> Shape:
        fields = tuple((k, self.val(v, local, unit)) for k, v in node.fields)
        return Shape(_plus(*(Size(len(k) + 1) for k, _ in fields),
                           *(f.size for _, f in fields)), fields=fields)

    def generic_visit(self, node: A.Node, *args: object) -> Shape:
        return NOTHING  # pragma: no cover - every node kind has its visit_ method

    def visit_Name(self, node: A.Name, local: _Locals, unit: _SizeUnit) -> Shape:
        r = self.res.get(id(node))
        if r is None:
            return NOTHING
        if r.kind == "local":
            for n, v in reversed(local):
                if n == node.id:
                    return v
            return NOTHING
        if r.kind == "def":
            return self.defs.get(r.name, NOTHING)
        if r.kind == "param":
            return self.params.get(r.name, NOTHING)
        if r.kind == "field":
            return _input(self.type_of(node), node.id)
        return _scalar(self.type_of(node))  # as_of

    def visit_Attr(self, node: A.Attr, local: _Locals, unit: _SizeUnit) -> Shape:
        obj = self.val(node.obj, local, unit)
        r = self.res.get(id(node))
        if r is None:
            return NOTHING
        if r.kind == "attr_field":
            return _input(self.type_of(node), A.unparse(node))
        if r.kind == "attr_def":
            return self.defs.get(r.name, NOTHING)
        if r.kind == "record":
            f = obj.field(node.name)
            # a record always has its fields here; should one be missing, every part of a
            # record is no larger than the record
            return f if f is not None else Shape(obj.size, obj.length, obj.elem)
        return NOTHING

    def visit_Binary(self, node: A.Binary, local: _Locals, unit: _SizeUnit) -> Shape:
        left = self.val(node.left, local, unit)
        right = self.val(node.right, local, unit)
        op = node.op
        if op == "??":
            return _join(left, right)
        if op not in A.ARITH_OPS:
            return _scalar(T.BOOL)
        t = T.strip(self.type_of(node))
        if t == T.DATE:
            return _scalar(t)
        if isinstance(t, T.ListT):  # `+` of lists
            length = _plus(left.length or ZERO, right.length or ZERO)
            return Shape(_plus(left.size, right.size), length,
                         _join(left.elem or NOTHING, right.elem or NOTHING))
        if t == T.TEXT:
            return Shape(_plus(left.size, right.size))
        if op in ("+", "-"):  # numbers and durations: one more digit at most
            size = _with(_either(left.size, right.size), 1)
        elif op == "*" and t == T.DURATION:  # the factor is at most 100,000
            lt = T.strip(self.type_of(node.left))
            size = _with((left if lt == T.DURATION else right).size, 6)
        elif op == "*":  # the digits of the factors add up
            size = _plus(left.size, right.size)
        else:  # "/": and up to the 28 digits of the quotient
            size = _with(_plus(left.size, right.size), 30)
        return Shape(size if t in (T.INT, T.DURATION) else _decimal(size))

    def visit_Call(self, node: A.Call, local: _Locals, unit: _SizeUnit) -> Shape:
        args = [self.val(a, local, unit) for a in node.args]
        types = [self.type_of(a) for a in node.args]
        f = node.func
        t = self.type_of(node)
        if f in ("first", "last", "largest", "smallest", "latest", "earliest") and args:
            return _join(args[0].elem or NOTHING, _scalar(T.NULL))
        if f in ("compact", "min", "max"):
            return _join_all(args)
        if f == "count":
            return Shape(Size(19))  # fewer than 2**63 elements
        if f == "sum" and args:  # an element, and a digit more for each tenfold
            e = (args[0].elem or NOTHING).size
            return Shape(_with(e, 19) if T.strip(t) == T.INT else _decimal(_with(e, 19)))
        if f == "round_cents" and args:
            return Shape(_decimal(_with(args[0].size, 3)))
        if f == "fx_rate":  # a rate of the run: one value
            return Shape(Size(k=1, unit="fx_rate(...)"))
        if f == "accrued_interest" and len(args) > 1:
            # principal x (1 + rate)^t for t up to _YEARS: the digits of the principal, and
            # _YEARS times those of the rate as written (a rate set with --param counts as
            # one value, see the module docstring), and 28 after the point
            principal, rate = args[0].size, args[1].size
            return Shape(_decimal(_plus(principal, Size(_sat(_YEARS * rate.c) + 60, rate.k,
                                                        unit=rate.unit))))
        if f == "window_for" and len(args) == 3:
            row = args[1].elem or NOTHING
            fields = (("opens", _scalar(T.DATE)), ("closes", _scalar(T.DATE)), ("row", row),
                      ("deferred", _scalar(T.BOOL)))
            return Shape(_plus(Size(40), row.size), fields=fields)
        if f == "join" and len(args) == 2:
            items, sep = args
            seps, quadratic = _times(items.length or ZERO, sep.size)
            if quadratic and not (items.size.over or sep.size.over):
                self.report_separator(node, unit)
                seps = dataclasses.replace(seps, over=True)
            return Shape(_plus(items.size, seps))
        if f in ("format", "text"):
            # each `{}` of the template takes the next value once: the template and each
            # value once at most
            return Shape(_plus(*(_as_text(a, ty) for a, ty in zip(args, types, strict=True))))
        if f in ("year", "month", "day", "days_in_month", "month_day", "date",
                 "days_between", "any", "all", "fail"):
            return Shape(Size(8)) if T.strip(t) == T.INT else _scalar(t)
        # any function added later: as large as all it is given, written out
        return Shape(_plus(*(_as_text(a, ty) for a, ty in zip(args, types, strict=True))))

    def visit_Comprehension(self, node: A.Comprehension, local: _Locals,
                            unit: _SizeUnit) -> Shape:
        it = self.val(node.iterable, local, unit)
        inner = (*local, (node.var, it.elem or NOTHING))
        if node.cond is not None:
            self.val(node.cond, inner, unit)
        elem = self.val(node.element, inner, unit)
        return _list(it.length or ZERO, elem)

    # -- steps -------------------------------------------------------------------------

    def length(self, node: A.Node) -> Size:
        shape = self.shapes.get(id(node))
        return shape.length or ZERO if shape is not None else ZERO

    def steps(self, node: A.Node, unit: _SizeUnit) -> Size:
        """How many elements evaluating ``node`` once goes through (``c`` of them, and
        ``nc`` for each element of a list of the facts); an error where that crosses
        :data:`STEP_LIMIT`. A definition it uses is evaluated once per record, and
        counted in its own formula. ``over``: already reported."""
        if isinstance(node, A.Comprehension):
            outer = self.steps(node.iterable, unit)
            inner = _plus(Size(1), *(self.steps(n, unit) for n in (node.cond, node.element)
                                     if n is not None))
            each, _ = _times(self.length(node.iterable), inner)
            out = _plus(outer, each)
        else:
            out = _plus(*(self.steps(c, unit) for c in A.children(node)))
            lists: tuple[A.Node, ...] = ()
            if isinstance(node, A.Binary) and node.op in ("in", "not in", "==", "!="):
                lists = (node.right,) if node.op in ("in", "not in") else \
                    (node.left, node.right)
            elif isinstance(node, A.Call) and not (
                    node.func in O1_ON_NAMED_LIST and len(node.args) == 1
                    and isinstance(node.args[0], A.Name | A.Attr)):
                lists = node.args
            out = _plus(out, *(self.length(a) for a in lists
                               if not isinstance(a, A.Comprehension)))
        if not out.over and (out.c > STEP_LIMIT or out.nc > STEP_LIMIT):
            self.report_steps(node, out, unit)
            out = dataclasses.replace(out, over=True)
        return out

    # -- reporting ---------------------------------------------------------------------

    def report_steps(self, node: A.Node, steps: Size, unit: _SizeUnit) -> None:
        spec = unit.spec
        src = _short(A.unparse(node))
        amount = (f"{_n(steps.c)} elements" if steps.c > STEP_LIMIT else
                  f"{_n(steps.nc)} elements for each element of {_named(steps.each, 'lists')}")
        self.diags.append(Diagnostic(
            f"`{src}` goes through {amount} each time it is evaluated: comprehensions over "
            "long lists nested in one another multiply", spec.span(node), severity="error",
            where=unit.where, provision=spec.provision, source=spec.source, code=Code.COST,
            help=("go through the lists one after the other rather than one inside the "
                  "other, or shorten them: a formula may go through at most "
                  f"{STEP_LIMIT:,} elements each time it is evaluated")))

    def report(self, node: A.Node, shape: Shape, t: T.Type, unit: _SizeUnit,
               limit: int) -> None:
        spec = unit.spec
        s = shape.size
        whole = node is spec.node and unit.where.startswith(("definition", "parameter"))
        subject = f"`{spec.name}`" if whole else f"`{_short(A.unparse(node))}`"
        kind = ("text" if t == T.TEXT else "Int" if t == T.INT else
                "list" if isinstance(t, T.ListT) else "record")
        if s.weight() > limit:
            if s.k and INPUT * s.k >= s.c:
                amount = (f"can have {_n(s.k)} times as many digits as {_named(s.unit)}"
                          if kind == "Int" else
                          f"can be {_n(s.k)} times as long as {_named(s.unit)}"
                          if kind == "text" else
                          f"can hold {_n(s.k)} copies of {_named(s.unit)}")
            elif kind == "text":
                amount = f"can be {_n(s.c)} characters long"
            elif kind == "Int":
                amount = f"can have {_n(s.c)} digits"
            elif kind == "list" and shape.length is not None:
                amount = (f"can have {_n(shape.length.c)} elements ({_n(s.c)} characters, "
                          "elements and digits in all)")
            else:
                amount = f"can hold {_n(s.c)} characters, elements and digits"
        else:
            per = (f"{_n(s.nk)} copies of {_named(s.unit)}" if s.nk and INPUT * s.nk >= s.nc
                   else f"{_n(s.nc)} characters")
            amount = f"can hold {per} for each element of {_named(s.each, 'lists')}"
        # made of two or more large parts: the end of a chain that doubles
        big = [c for c in A.children(node) if 4 * self.weights.get(id(c), 0) >= limit]
        step = "definition" if any(self.named(c) for c in big) else "step"
        if len(big) < 2:
            why = f"more than {'an Int' if kind == 'Int' else 'a ' + kind} may hold"
        elif kind == "Int":
            why = f"Ints multiplied by themselves at each {step} grow without bound"
        else:
            why = f"{kind}s that double at each {step} grow without bound"
        if kind == "Int":
            hint = ("shorten the chain of products, or compute with a Number (a decimal of "
                    f"bounded precision) instead: an Int may have at most {INT_LIMIT:,} "
                    "digits")
        else:
            hint = (f"build the {kind} once, or shorten the chain: a value may hold at most "
                    f"{LIMIT:,} characters, elements or digits")
        hint += f", each value of the facts or of a parameter counting as {INPUT:,}"
        self.diags.append(Diagnostic(
            f"{subject} {amount}: {why}", spec.span(node), severity="error",
            where=unit.where, provision=spec.provision, help=hint, source=spec.source,
            code=Code.COST))

    def named(self, node: A.Node) -> bool:
        """Whether ``node`` names a definition or a parameter."""
        if isinstance(node, A.Name | A.Attr):
            r = self.res.get(id(node))
            if isinstance(node, A.Name):
                return r is not None and r.kind in ("def", "param")
            return r is not None and r.kind == "attr_def"
        return False

    def report_separator(self, node: A.Call, unit: _SizeUnit) -> None:
        spec = unit.spec
        items, sep = (A.unparse(a) for a in node.args)
        self.diags.append(Diagnostic(
            f"`{_short(sep)}` grows with the facts and is written once for every element "
            f"of `{_short(items)}`: the text grows with the facts {TIMES} the facts",
            spec.span(node.args[1]), severity="error", where=unit.where,
            provision=spec.provision, source=spec.source, code=Code.COST,
            help="join with a separator of fixed length"))


def _n(n: int) -> str:
    return f"{n:,}" if n < CAP else f"more than {CAP:,}"


def _named(name: str, others: str = "values") -> str:
    """``name`` quoted, or ``name`` and others."""
    if name.endswith(_OTHERS):
        return f"`{name[:-len(_OTHERS)]}` and other {others}"
    return f"`{name}`"


def _short(src: str) -> str:
    return src if len(src) <= 60 else src[:45] + " ... " + src[-10:]

