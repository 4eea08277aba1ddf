"""Cost check: evaluation time stays linear in the size of the facts, whatever the policy.

The language has no loops, no recursion and no user-defined functions, and every
definition is memoised per record (member, account, claim, the portfolio, the global
record). What is left that could make evaluation superlinear is a formula that goes
through a list of the facts once *for each* element of another list of the facts, or
once for each record while the list belongs to someone else. This module finds every
such place statically and reports it as an error (code ``cost``) at the sub-expression
that names the list.

The rule
--------

1. A value is *facts-sized* when its size depends on the facts: the list fields of the
   entities (``events``, ``accounts``, ``claims``, ``members`` and an event's
   ``attachments``: every list-typed field of ``types.ENTITY_FIELDS``), list-valued
   definitions whose formula is facts-sized, comprehensions over facts-sized lists, and
   ``if``/``??``/``+``/``compact``/``first``... built from them. Texts built from a
   facts-sized value by ``join``, ``format``, ``text`` or ``+`` are facts-sized as well
   (copying them costs their length). Values from parameters, tables and literals are
   *constant-sized* and always free to use; so is a list literal's length (its items
   keep their own sizes).
2. Each record being evaluated *owns* its own lists: an account its events; a member
   its accounts and events; the portfolio its members, accounts and claims; an event its
   attachments; and every list-valued definition of an entity is owned by the record of
   that entity. The owned lists of different records of the same entity are disjoint,
   so going through each record's own lists once is linear overall.
3. A formula of entity E may use the facts-sized values owned by the record it is
   evaluated for (bare ``events``, ``accounts``, its own list definitions, and the lists
   of entities it picked out of those, such as ``first(accounts).events``). It may not
   use facts-sized values owned by another record: ``member.events`` or
   ``member.accounts`` from an account, ``account.events`` from a claim (an account may
   have many claims), ``a.member.events``, a member's list definition from an account
   formula, a definition of any other entity (global definitions included).
4. Inside the element or condition of a comprehension over a facts-sized list with
   variable ``x``, the only facts-sized values allowed are those owned by ``x`` itself
   (``x.events`` when x is an account, ``x``'s list definitions, ``x`` itself when it is
   a list); the enclosing record's own lists, and those of enclosing comprehension
   variables, are no longer allowed there (that would be list x list). ``x`` owns what
   it reaches only when the elements of the list are distinct records: an element of
   ``[member for e in events]`` or of ``[best_account for e in events]`` is the same
   record again and again, so its lists belong to whoever owns that record. A
   comprehension over a constant-sized list (a table, a list literal) does not change
   what is allowed. The iterable itself is evaluated once, in the enclosing scope.
5. Scalar values (fields, definitions, aggregates) of any record are O(1): they are
   memoised, and an aggregate such as ``count(...)`` or ``latest(...)`` costs its list
   once, where that list is named and checked. Facts text fields (ids, types, marks) are
   taken as O(1) too: their length is not a function of the number of records.
6. ``count``, ``first`` and ``last`` of a *named* list (a field or a definition, such as
   ``count(member.accounts)`` from an account) are O(1): the list already exists (facts
   fields are tuples, definitions are memoised) and only its length or one end is read.
   What ``first``/``last`` give is then checked like a named value (its own lists).
   Given a comprehension, they cost the comprehension, which is checked as usual.

The check runs on names and attributes (and on ``first``/``last`` of one): every
facts-sized value reaches a formula through one, and every other node only combines the
values of its children, or is a comprehension whose iterable and body are checked in
their scopes. So each problem is reported once, where the list is named, with a caret
under it; checking ``r.items`` rather than ``r`` lets a record that holds a list be used
for its other fields.

How: every definition is analysed once, after those it uses, into a :class:`Val` (whose
facts its size grows with, whose lists its records have, its elements and fields) as seen
from a record of its own entity; a use from another entity's formula turns "this record"
into "another record". Inside a formula, a comprehension over a facts-sized list gives
its variable a tag of its own, and only that tag is allowed in its body; a list whose
elements are distinct records (a list field, a comprehension whose element is derived
from its variable) marks its elements, so that iterating it gives the variable their
lists, and picking one (``first``) gives the list's owner.

Builtins (``evaluator/builtins.py``): none is superlinear in its list argument.
``count``, ``first`` and ``last`` are O(1); ``latest``/``earliest``/``largest``/
``smallest``/``sum``/``any``/``all``/``compact``/``join`` are one pass; ``format`` and
``text`` are linear in the size of what they print; ``min``/``max`` take a fixed number
of arguments; ``window_for`` goes through its table once and sorts its window shapes once
(n log n in the table, a policy constant; the year loop is bounded by the years between
two dates); ``accrued_interest``, ``fx_rate`` (a dictionary lookup) and the date
functions are O(1). The operators are linear in their operands (``in``, ``==`` on lists,
``+`` on lists and texts).

Not covered here (the run-time side): an account's ``events`` is, in the scalar backend
(``interpreter.Inst.events``), found by filtering the member's events once per account,
which is O(accounts x events) per member whatever the policy; grouping the member's
events by account once makes it linear.

The second half of the check, bounds on the size of every value and on the steps of every
formula (the language's "billion laughs"), is :mod:`evaluator.lang.check.sizes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from evaluator.errors import Code, Diagnostic
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.check.model import CheckedDef, CheckedPolicy, Resolved
from evaluator.lang.check.sizes import O1_ON_NAMED_LIST, TIMES, SizeCheck, definition_order
from evaluator.lang.document.loader import DefSpec
from evaluator.text import with_article

#: the record being evaluated
SELF = "self"
#: another record (the member of an account, the account of a claim, a definition of
#: another entity): its lists are shared by many records
FOREIGN = "foreign"

_Tags = frozenset[str]
_NONE: _Tags = frozenset()


@dataclass(frozen=True)
class Val:
    """What the cost check knows of a value.

    ``size``: the owners whose facts the value's size (a list's length, a text's length)
    grows with; empty for a constant-sized value. ``owner``: for an entity (a record),
    the owners of the lists the entity has. ``each``: for a list, the tag that stands,
    in ``elem``, for "this element of the list" (elements of a list of distinct records
    own their own lists). ``elem``: a list's elements. ``fields``: a record's fields.
    Tags are :data:`SELF`, :data:`FOREIGN`, or the tag of a comprehension variable.
    """

    size: _Tags = _NONE
    owner: _Tags = _NONE
    each: str | None = None
    elem: Val | None = None
    fields: tuple[tuple[str, Val], ...] = ()

    def field(self, name: str) -> Val | None:
        for k, v in self.fields:
            if k == name:
                return v
        return None


CONST = Val()


def _map(tags: _Tags, m: Mapping[str, _Tags]) -> _Tags:
    if not tags or not any(t in m for t in tags):
        return tags
    out: set[str] = set()
    for t in tags:
        out |= m.get(t, {t})
    return frozenset(out)


def subst(v: Val, m: Mapping[str, _Tags]) -> Val:
    """``v`` with each tag of ``m`` replaced by the tags it maps to."""
    if v is CONST or not m:
        return v
    return Val(_map(v.size, m), _map(v.owner, m), v.each,
               subst(v.elem, m) if v.elem is not None else None,
               tuple((k, subst(f, m)) for k, f in v.fields))


def pick(v: Val) -> Val:
    """One element of the list ``v``: owned by whoever owns the list."""
    if v.elem is None:
        return Val(size=v.size, owner=v.size) if v.size else CONST
    return subst(v.elem, {v.each: v.size}) if v.each else v.elem


def deep(v: Val) -> _Tags:
    """Every owner the work of going through ``v`` entirely grows with (not the lists
    of the entities in it: using an entity costs nothing)."""
    out = set(v.size)
    if v.elem is not None:
        out |= deep(pick(v))
    for _, f in v.fields:
        out |= deep(f)
    return frozenset(out)


def join(a: Val, b: Val) -> Val:
    """A value that is ``a`` or ``b`` (``if``, ``??``, list items, ``+``)."""
    if a is CONST:
        return b
    if b is CONST:
        return a
    if a.each and b.each and a.each != b.each and b.elem is not None:
        b = Val(b.size, b.owner, a.each, subst(b.elem, {b.each: frozenset({a.each})}),
                b.fields)
    elem = a.elem if b.elem is None else b.elem if a.elem is None else join(a.elem, b.elem)
    names = [k for k, _ in a.fields] + [k for k, _ in b.fields if a.field(k) is None]
    fields = tuple((k, join(a.field(k) or CONST, b.field(k) or CONST)) for k in names)
    return Val(a.size | b.size, a.owner | b.owner, a.each or b.each, elem, fields)


def join_all(vals: Iterable[Val]) -> Val:
    out = CONST
    for v in vals:
        out = join(out, v)
    return out


@dataclass(frozen=True)
class _Loop:
    """A comprehension over a facts-sized list."""

    tag: str
    var: str
    var_type: T.Type
    iterable: A.Node


@dataclass(frozen=True)
class _Scope:
    #: the owners whose facts-sized values may be used here
    allowed: _Tags
    #: comprehension variables in scope, innermost last
    names: tuple[tuple[str, Val], ...] = ()
    #: the innermost comprehension over a facts-sized list
    loop: _Loop | None = None

    def local(self, name: str) -> Val:
        for n, v in reversed(self.names):
            if n == name:
                return v
        return CONST


@dataclass
class _Unit:
    """The formula being checked and how to label its diagnostics."""

    spec: DefSpec
    entity: str
    where: str
    diags: list[Diagnostic] = field(default_factory=list)


class OwnershipCheck(A.NodeVisitor[Val]):
    """Finds every place a formula goes through a facts-sized list that is not its own
    record's (or its comprehension element's): the rule of the module docstring."""

    def __init__(self, checked: CheckedPolicy) -> None:
        self.checked = checked
        self.res: dict[int, Resolved] = checked.resolutions
        self.types: dict[int, T.Type] = checked.types
        #: each definition's value, as seen from a record of its own entity
        self.def_vals: dict[str, Val] = {}
        self.diags: list[Diagnostic] = []

    # -- entry -------------------------------------------------------------------------

    def run(self) -> list[Diagnostic]:
        for name in definition_order(self.checked.defs):
            cdef = self.checked.defs[name]
            self.def_vals[name] = self.formula(cdef, f"definition `{name}`")
        for name, cdef in self.checked.derived.items():
            self.formula(cdef, f"parameter `{name}`")
        for name, cdef in self.checked.invariants.items():
            self.formula(cdef, f"invariant `{name}`")
        return self.diags

    def formula(self, cdef: CheckedDef, where: str) -> Val:
        spec = cdef.spec
        if spec.node is None:
            return CONST
        unit = _Unit(spec, spec.entity, where)
        v = self.val(spec.node, _Scope(frozenset({SELF})), unit)
        self.diags.extend(unit.diags)
        return v

    # -- values --------------------------------------------------------------------------

    def val(self, node: A.Node, scope: _Scope, unit: _Unit, check: bool = True) -> Val:
        """What ``node`` is, checked where it is a name or an attribute (``check``)."""
        v = self.visit(node, scope, unit)
        if T.is_unknown(self.types.get(id(node), T.NEVER)):
            # the checker has reported this expression (an unknown function, a wrong
            # type): its mistake is said once, there, and what uses it is not a list of
            # the facts (its parts are still checked, above)
            return CONST
        if check and isinstance(node, A.Name | A.Attr):
            self.check(node, v, scope, unit)
        return v

    def visit_Literal(self, node: A.Literal, scope: _Scope, unit: _Unit) -> Val:
        return CONST

    def visit_Unary(self, node: A.Unary, scope: _Scope, unit: _Unit) -> Val:
        self.val(node.operand, scope, unit)
        return CONST

    def visit_Binary(self, node: A.Binary, scope: _Scope, unit: _Unit) -> Val:
        left = self.val(node.left, scope, unit)
        right = self.val(node.right, scope, unit)
        if node.op in ("??", "+"):
            return join(left, right)
        return CONST

    def visit_If(self, node: A.If, scope: _Scope, unit: _Unit) -> Val:
        self.val(node.cond, scope, unit)
        return join(self.val(node.then, scope, unit), self.val(node.orelse, scope, unit))

    def visit_ListComp(self, node: A.ListLit, scope: _Scope, unit: _Unit) -> Val:
        comp = node.comprehension
        assert comp is not None  # what kind() calls a ListComp
        return self.visit_Comprehension(comp, scope, unit)

    def visit_ListLit(self, node: A.ListLit, scope: _Scope, unit: _Unit) -> Val:
        return Val(elem=join_all(self.val(i, scope, unit) for i in node.items))

    def visit_RecordLit(self, node: A.RecordLit, scope: _Scope, unit: _Unit) -> Val:
        return Val(fields=tuple((k, self.val(v, scope, unit)) for k, v in node.fields))

    def generic_visit(self, node: A.Node, *args: object) -> Val:
        return CONST  # pragma: no cover - every node kind has its visit_ method

    def visit_Name(self, node: A.Name, scope: _Scope, unit: _Unit) -> Val:
        r = self.res.get(id(node))
        if r is None:
            return CONST
        if r.kind == "local":
            return scope.local(node.id)
        if r.kind == "def":
            v = self.def_vals.get(r.name, CONST)
            # a definition of the same entity is this record's; any other (the member's
            # from an account, a global one) is shared by many records
            return v if r.entity == unit.entity else subst(v, {SELF: frozenset({FOREIGN})})
        if r.kind == "field":
            ftype = T.ENTITY_FIELDS.get(unit.entity, {}).get(r.name)
            if ftype is None:
                return CONST
            return _field_val(ftype, frozenset({SELF}), f"e{id(node)}")
        return CONST  # parameters and as_of

    def visit_Attr(self, node: A.Attr, scope: _Scope, unit: _Unit) -> Val:
        # the object is checked through the attribute: `r.count` of a record holding a
        # list costs nothing, `r.items` is checked as a whole
        obj = self.val(node.obj, scope, unit, check=not isinstance(node.obj, A.Name | A.Attr))
        r = self.res.get(id(node))
        if r is None:
            return CONST
        owner = obj.owner or frozenset({FOREIGN})
        if r.kind == "attr_field":
            otype = T.strip(self.types.get(id(node.obj), T.NEVER))
            ename = otype.name if isinstance(otype, T.EntityT) else ""
            ftype = T.ENTITY_FIELDS.get(ename, {}).get(r.name)
            if ftype is None:
                return CONST
            return _field_val(ftype, owner, f"e{id(node)}")
        if r.kind == "attr_def":
            return subst(self.def_vals.get(r.name, CONST), {SELF: owner})
        if r.kind == "record":
            f = obj.field(node.name)
            if f is not None:
                return f
            tags = deep(obj)
            return Val(size=tags, owner=tags) if tags else CONST
        return CONST

    def visit_Call(self, node: A.Call, scope: _Scope, unit: _Unit) -> Val:
        f = node.func
        if f in O1_ON_NAMED_LIST and len(node.args) == 1 and isinstance(node.args[0], A.Name | A.Attr):
            # `count(member.events)`, `first(accounts)`: the list already exists (a field,
            # a memoised definition), and taking its length or an end is O(1); what
            # `first`/`last` give is checked instead
            arg = self.val(node.args[0], scope, unit, check=False)
            if f == "count":
                return CONST
            v = pick(arg)
            self.check(node, v, scope, unit)
            return v
        args = [self.val(a, scope, unit) for a in node.args]
        if f in ("first", "last", "largest", "smallest", "latest", "earliest") and args:
            return pick(args[0])
        if f == "compact" and args:
            return args[0]
        if f in ("min", "max"):
            return join_all(args)
        if f == "window_for" and len(args) == 3:
            return Val(fields=(("row", pick(args[1])),))
        if f in ("count", "sum", "any", "all", "fail", "fx_rate", "accrued_interest",
                 "year", "month", "day", "days_in_month", "month_day", "date",
                 "days_between", "round_cents"):
            return CONST
        # join, format, text and any function added later: as large as all it is given
        tags = frozenset().union(*(deep(a) for a in args)) if args else _NONE
        return Val(size=tags, owner=tags) if tags else CONST

    def visit_Comprehension(self, node: A.Comprehension, scope: _Scope, unit: _Unit
                            ) -> Val:
        it = self.val(node.iterable, scope, unit)
        tag = f"v{id(node)}"
        var = pick(it) if not it.size else \
            subst(it.elem, {it.each: frozenset({tag})}) if it.elem is not None and it.each \
            else (it.elem if it.elem is not None else Val(size=it.size, owner=it.size))
        if it.size:
            itype = self.types.get(id(node.iterable))
            vtype = itype.elem if isinstance(itype, T.ListT) else T.NEVER
            inner = _Scope(frozenset({tag}), (*scope.names, (node.var, var)),
                           _Loop(tag, node.var, vtype, node.iterable))
        else:
            inner = _Scope(scope.allowed, (*scope.names, (node.var, var)), scope.loop)
        if node.cond is not None:
            self.val(node.cond, inner, unit)
        elem = self.val(node.element, inner, unit)
        return Val(size=it.size, each=tag, elem=elem)

    # -- the check ---------------------------------------------------------------------

    def check(self, node: A.Node, v: Val, scope: _Scope, unit: _Unit) -> None:
        bad = deep(v) - scope.allowed
        if not bad:
            return
        src = A.unparse(node)
        ntype = self.types.get(id(node), T.NEVER)
        length = _length(ntype, src)
        entity = unit.entity
        if FOREIGN in bad or scope.loop is None:
            owner = self.owner_of(node, unit)
            whose = f"the {owner}'s" if owner else "another record's"
            message = (f"`{src}` is {whose}, not this {entity}'s, and is gone through once "
                       f"for every {entity}: the time grows with {entity}s {TIMES} {length}")
            there = f"{with_article(owner)} definition" if owner else "a definition there"
            hint = (f"compute what you need from it as a single value on the "
                    f"{owner or 'record it belongs to'} ({there}) and use that here")
            own = _own_list(entity, ntype)
            if own:
                hint += f", or go through this {entity}'s own `{own}`"
        else:
            loop = scope.loop
            outer = A.unparse(loop.iterable)
            message = (f"`{src}` is gone through once for every `{loop.var}` in `{outer}`: "
                       f"the time grows with {_length(T.ListT(loop.var_type), outer)} "
                       f"{TIMES} {length}")
            hint = ""
            if isinstance(loop.var_type, T.EntityT):
                own = _own_list(loop.var_type.name, ntype)
                if own:
                    hint = (f"go through `{loop.var}.{own}` (the {own} of this "
                            f"{loop.var_type.name}) instead, or ")
            hint += (f"compute what you need from `{src}` once, as a single value (a count, "
                     "a date, a Bool) in a separate definition, and use that here; a list, "
                     "even a definition's, is gone through again each time")
        spec = unit.spec
        unit.diags.append(Diagnostic(
            message, spec.span(node), severity="error", where=unit.where,
            provision=spec.provision, help=hint, source=spec.source, code=Code.COST))

    def owner_of(self, node: A.Node, unit: _Unit) -> str | None:
        """The entity a foreign list belongs to, when it can be named."""
        if isinstance(node, A.Attr):
            t = T.strip(self.types.get(id(node.obj), T.NEVER))
            if isinstance(t, T.EntityT):
                return "member" if t.name == "member" else t.name
            return self.owner_of(node.obj, unit)
        r = self.res.get(id(node))
        if isinstance(node, A.Name) and r is not None and r.kind == "def" \
                and r.entity != unit.entity:
            return r.entity
        return None




def _field_val(ftype: T.Type, owner: _Tags, tag: str) -> Val:
    """A field of an entity whose lists belong to ``owner``."""
    t = T.strip(ftype)
    if isinstance(t, T.ListT):
        e = T.strip(t.elem)
        elem = Val(owner=frozenset({tag})) if isinstance(e, T.EntityT) else CONST
        return Val(size=owner, each=tag, elem=elem)
    if isinstance(t, T.EntityT):
        # the member of an account, the account of a claim: shared by many records
        return Val(owner=frozenset({FOREIGN}))
    return CONST


def _length(t: T.Type, src: str) -> str:
    """How the length of a list is said in a message: `events`, `accounts`..."""
    if isinstance(t, T.ListT):
        e = T.strip(t.elem)
        if isinstance(e, T.EntityT):
            return f"{e.name}s"
    return f"the length of `{src}`"


def _own_list(entity: str, t: T.Type) -> str | None:
    """The list field of ``entity`` of the same type as ``t``, if there is one."""
    if not (isinstance(t, T.ListT) and isinstance(t.elem, T.EntityT)):
        return None
    for name, ft in T.ENTITY_FIELDS.get(entity, {}).items():
        if ft == t:
            return name
    return None



#: the size check under its old name (``tests/test_cost.py`` imports it from ``evaluator.cost``)
_Sizes = SizeCheck


def cost_diagnostics(checked: CheckedPolicy) -> list[Diagnostic]:
    """An error (code ``cost``) for every place a formula goes through a facts-sized
    list that does not belong to the record (or the comprehension element) it is
    evaluated for, and for every value that can be larger than :data:`LIMIT` (a text
    doubled at each of a chain of definitions). See the module docstring for the rules."""
    return OwnershipCheck(checked).run() + SizeCheck(checked).run()
