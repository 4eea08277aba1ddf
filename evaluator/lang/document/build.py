"""Builds the specs of one composed, schema-checked policy file: parameters read by their
type, definitions, derived parameters and invariants parsed with their file positions."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any, TypeGuard

import yaml

from evaluator.errors import Code, Diagnostic, ExpressionSyntaxError
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.document.compose import RawFile, child, key_node
from evaluator.lang.document.positions import ScalarPositions, node_span
from evaluator.lang.document.specs import DefSpec, ParamSpec
from evaluator.lang.parser import parse_expression, parse_literal
from evaluator.span import Source
from evaluator.text import with_article

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


def _param_value(name: str, spec: dict[str, Any], node: yaml.Node | None, raw: RawFile,
                 type_name: str, columns: tuple[tuple[str, str], ...],
                 provision: str | None, diags: list[Diagnostic]) -> Any:
    """The value of parameter ``name`` (its node is ``node``), read by its type. Nodes the
    composer refused are left out without a word: it has reported them."""
    value = spec.get("value")
    vnode = child(node, "value")

    def bad(n: yaml.Node | None, msg: str, help: str | None = None) -> None:
        n = n if n is not None else node
        diags.append(Diagnostic(msg, node_span(raw.source, n) if n is not None else None,
                                where=f"parameter `{name}`", provision=provision, help=help,
                                source=raw.source, code=Code.PARAMETER))

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
            rnode = child(vnode, i)
            if not raw.usable(rnode):
                continue
            if not isinstance(row, dict):
                bad(rnode, f"row {i + 1} of `{name}` must be a mapping of columns")
                continue
            out: dict[str, Any] = {}
            for col, ctype in columns:
                cnode = child(rnode, col)
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
                    bad(key_node(rnode, col), f"row {i + 1} of `{name}` has a column `{col}` "
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
            inode = child(vnode, i)
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
        bad(vnode, f"parameter `{name}` is {with_article(type_name)}: its value must be a single value")
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

def as_text(value: Any) -> str | None:
    """Text, or None for anything else (which the schema has reported)."""
    return value if isinstance(value, str) else None


def as_mapping(value: Any) -> dict[str, Any]:
    """A mapping, or nothing for anything else (which the schema has reported)."""
    return value if isinstance(value, dict) else {}


def _citation(spec: dict[str, Any], inherited: str | None) -> str | None:
    """The `provision:` of an entry. One that is not text (reported already) is kept
    empty, so that the entry is not reported again as citing nothing."""
    if "provision" not in spec:
        return inherited
    return as_text(spec["provision"]) or ""


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


def build_param(name: str, spec: Any, node: yaml.Node | None, raw: RawFile, ref: str,
                 inherited: ParamSpec | None, diags: list[Diagnostic]) -> ParamSpec | None:
    """Parameter ``name`` of one file, over what it inherits; None to keep that as it is.

    A parameter whose type cannot be known is kept, typed `Never` and without a value, so
    that the formulas using it are not reported for it."""
    src = raw.source
    key_span = node_span(src, node) if node is not None else None

    def report(message: str, help: str | None, at: yaml.Node | None = None) -> None:
        at = at if at is not None else node
        diags.append(Diagnostic(message, node_span(src, at) if at is not None else None,
                                source=src, where=f"parameter `{name}`", code=Code.PARAMETER,
                                help=help))

    def unusable(provision: str | None) -> ParamSpec:
        return ParamSpec(name=name, type_name="unknown", type=T.NEVER, value=None,
                         provision=provision, description=None, set_by=ref,
                         key_span=key_span, source=src)

    if not isinstance(spec, dict):  # the schema or the composer has said why
        return None if inherited else unusable(None)
    declared = spec.get("type")
    if inherited and _known_type(declared, _PARAM_TYPES) and declared != inherited.type_name:
        report(f"parameter `{name}` is {with_article(inherited.type_name)} in {inherited.set_by}; "
               f"an override cannot make it {with_article(declared)}", None, child(node, "type"))
        return None
    provision = _citation(spec, inherited.provision if inherited else None)
    shape = _param_shape(name, spec, inherited, report)
    if shape is None:
        return unusable(provision)
    type_name, columns = shape
    vnode = child(node, "value")
    pnode = child(node, "provision")
    derived: DefSpec | None = None
    psrc: Source | None = src
    if "formula" in spec:
        derived = build_def(name, {**spec, "entity": "parameter"}, node, src, ref, diags, None)
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
        description=as_text(spec.get("description", inherited.description if inherited
                                   else None)),
        set_by=set_by, span=vspan, key_span=key_span, source=psrc, columns=columns,
        provision_positions=(ScalarPositions(src, pnode) if isinstance(pnode, yaml.ScalarNode)
                             else inherited.provision_positions if inherited else None),
        derived=derived)


def build_def(name: str, spec: dict[str, Any], dnode: yaml.Node | None, source: Source,
               ref: str, diags: list[Diagnostic], inherited: DefSpec | None) -> DefSpec | None:
    """A definition (or the formula of a derived parameter or an invariant); None when
    its formula or its entity is unusable, which the schema has reported."""
    fnode = child(dnode, "formula")
    formula = spec.get("formula")
    entity = spec.get("entity", inherited.entity if inherited else "account")
    provision = _citation(spec, inherited.provision if inherited else None)
    if "formula" not in spec and inherited is not None and isinstance(entity, str):
        return _restated(name, spec, dnode, source, ref, inherited, entity, provision)
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
                                help=exc.help, source=source, code=Code.SYNTAX))
    enode = child(dnode, "entity")
    pnode = child(dnode, "provision")
    return DefSpec(
        name=name, entity=entity, formula=formula, node=node,
        provision=provision, description=as_text(spec.get("description")),
        declared_type=as_text(spec.get("type")), defined_in=ref,
        key_span=node_span(source, dnode) if dnode is not None else None,
        positions=positions, source=source,
        entity_span=node_span(source, enode) if enode is not None else None,
        provision_positions=(ScalarPositions(source, pnode)
                             if isinstance(pnode, yaml.ScalarNode) else
                             inherited.provision_positions if inherited else None))


def _restated(name: str, spec: dict[str, Any], dnode: yaml.Node | None, source: Source,
              ref: str, inherited: DefSpec, entity: str, provision: str | None) -> DefSpec:
    """An inherited definition whose formula is kept and whose citation, description or
    declared type the file restates (a regime citing its own provisions for shared
    machinery). The formula's positions stay in the file that wrote it."""
    pnode = child(dnode, "provision")
    enode = child(dnode, "entity")
    return replace(
        inherited, entity=entity, provision=provision,
        description=as_text(spec.get("description", inherited.description)),
        declared_type=as_text(spec.get("type", inherited.declared_type)), defined_in=ref,
        key_span=node_span(source, dnode) if dnode is not None else inherited.key_span,
        source=source,
        entity_span=node_span(source, enode) if enode is not None else inherited.entity_span,
        provision_positions=(ScalarPositions(source, pnode) if isinstance(pnode, yaml.ScalarNode)
                             else inherited.provision_positions))
