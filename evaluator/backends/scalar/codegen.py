"""The scalar backend's compiler: a checked policy turned into Python source once, one
function per definition, compiled and run record by record.

As jinja compiles a template, :class:`Program` visits the checked tree
(:class:`evaluator.lang.nodes.NodeVisitor`) and writes each formula as one Python
expression chosen from the node's checked types (``+`` on a date and a duration is
calendar arithmetic, on amounts exact decimal addition), inside one function per
definition. A definition used by another is read from the instance's memo, or evaluated
through :meth:`runtime.Inst.get` (which memoises it and turns a failure into the
record's error). Builtins are called through the builtin table. The source depends on
the checked policy alone (constants are written into it, parameters and facts are read
at run time), so it is a plain string that can be cached and compiled again: see
:func:`load_source`. It is compiled under the name ``<policy ID@VERSION>``, registered
with :mod:`linecache`, so tracebacks and profiles show its lines; with the environment
variable ``UNCLAIMED_DEBUG_CODEGEN=DIR`` it is also written to ``DIR/ID@VERSION.py``.

Coverage (``unclaimed test``) is a second variant of the same source: each definition
records that it ran and each decision its outcome (:mod:`runtime` ``entered``,
``decided``); the plain variant has no such calls.

The plain source also holds, per entity, a *fast* function computing an instance's
outputs with the definitions every output always evaluates as locals of one function
(no memo, no call per definition), alone and with the trace (:meth:`Program._fast`); a
record that fails is evaluated again by the lazy functions, so its error is the one the
lazy order meets.

Longer than 800 lines because the lazy, fast and trace functions are written by one
visitor: they share its state (the function being written, its locals, the constants).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import keyword
import linecache
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from evaluator.backends.scalar import runtime
from evaluator.backends.scalar.coverage import DecisionSite
from evaluator.errors import EvaluationError
from evaluator.facts.model import Account, Claim, Event, Member
from evaluator.lang import nodes as A
from evaluator.lang import typesys as T
from evaluator.lang.builtins import BUILTINS
from evaluator.lang.check.graph import dependency_order
from evaluator.lang.check.model import CheckedPolicy, Resolved
from evaluator.lang.values import Duration, MonthDay, add_duration, format_decimal

__all__ = ["DEBUG_ENV", "Program", "json_source", "load_source", "namespace"]

#: environment variable: a directory the generated source of each policy is written to
DEBUG_ENV = "UNCLAIMED_DEBUG_CODEGEN"

#: brackets an expression may nest before a part of it is moved into a function of its
#: own (Python's tokenizer refuses more than 200)
SPLIT_DEPTH = 60

#: the longest expression of a definition used under a condition that the fast function
#: of its entity computes inline (a longer one is evaluated by its function)
INLINE_LIMIT = 2000

#: the fields of the facts records that the generated code reads as attributes; any other
#: field goes through :func:`runtime.field_value`
RECORD_FIELDS: dict[str, frozenset[str]] = {
    entity: frozenset(f.name for f in dataclasses.fields(cls))
    for entity, cls in (("account", Account), ("member", Member), ("claim", Claim),
                        ("event", Event))}


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BRACKETS = re.compile(r"[()\[\]{}]")
#: how the instance fields that are instances or lists of them are read
_INSTANCE_FIELDS = {"events": "inst.events()", "accounts": "inst.accounts()",
                    "member": "inst.member", "account": "inst.field('account')"}


def namespace() -> dict[str, Any]:
    """The names the generated source uses besides its own: the run-time helpers, the
    value constructors and every builtin's scalar implementation (``_f_<name>``)."""
    ns: dict[str, Any] = {
        "__builtins__": __builtins__,
        "_D": Decimal, "_date": _dt.date, "_Duration": Duration, "_MonthDay": MonthDay,
        "_T": T, "_add_duration": add_duration, "_times": runtime.times,
        "_divide": runtime.divide, "_field": runtime.field_value,
        "_decided": runtime.decided, "_entered": runtime.entered,
        "_failed": runtime.failed, "_EvaluationError": EvaluationError,
        "_ARITHMETIC": runtime.ARITHMETIC, "_trace_entry": runtime.trace_entry,
        "_shared_entry": runtime.shared_entry,
        "_entry_of": runtime.entry_of, "_json": runtime.json_value,
        "_fmt_dec": format_decimal, "_U": runtime.UNSET,
    }
    for name, b in BUILTINS.items():
        ns["_f_" + name] = b.scalar
    # the same as the builtin table's, faster
    ns.update(_f_compact=runtime.compact, _f_max=runtime.largest, _f_min=runtime.smallest)
    return ns


def load_source(source: str, filename: str) -> dict[str, Any]:
    """The functions of a generated source (``DEFS``, ``DERIVED``, ``INVARIANTS``: name to
    function; ``OUTPUTS``, ``TRACES``: entity to function), compiled under ``filename`` and
    registered for tracebacks."""
    code = compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns = namespace()
    exec(code, ns)
    return ns


def nesting(text: str) -> int:
    """How deep brackets nest in generated text (its texts are constants, never inline,
    so every bracket is code)."""
    depth = best = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > best:
                best = depth
        elif ch in ")]}":
            depth -= 1
    return best


class _Function:
    """What one generated function needs: its name, entity and the instance-derived
    variables its body uses."""

    def __init__(self, entity: str) -> None:
        self.entity = entity
        self.uses: set[str] = set()
        self.temps = 0


class Program(A.NodeVisitor[str]):
    """A checked policy compiled to Python functions, one ``visit_<kind>`` method per
    kind of node, each returning the Python expression of its node; entered through
    :meth:`compile`.

    With ``coverage=True`` every definition and decision records into the run's
    :class:`Coverage` (a second variant of the source, used by policy tests).
    ``source`` (a string this class generated for the same checked policy and variant,
    for example from a cache) is compiled instead of generating it again."""

    def __init__(self, checked: CheckedPolicy, coverage: bool = False,
                 source: str | None = None) -> None:
        self.checked = checked
        self.coverage = coverage
        self.sites: list[DecisionSite] = []
        self._current = ""
        self.types = checked.types
        self.res = checked.resolutions
        self.provisions: dict[str, str | None] = {
            n: d.spec.provision for n, d in checked.defs.items()}
        self.entities: dict[str, str] = {n: d.spec.entity for n, d in checked.defs.items()}
        self._always: dict[str, tuple[Resolved, ...]] = {}
        #: while the fast function of an entity is generated: its definitions computed so
        #: far, as the locals holding them (see _fast)
        self._fast_locals: dict[str, str] = {}
        #: ... its entity's definitions that may be locals, and those computed where
        #: first used (name: expression)
        self._fast_mine: set[str] = set()
        self._inline: dict[str, str] = {}
        doc = checked.document
        self.filename = f"<policy {doc.id}@{doc.version}{' coverage' if coverage else ''}>"
        #: frames (estimated) of the definitions that count them (see _deep)
        self.deep = self._deep()
        if source is None or coverage:  # coverage needs the sites found while generating
            source = self.generate()
        #: the generated Python source (plain text: cacheable, inspectable)
        self.source = source
        ns = load_source(source, self.filename)
        self.defs: dict[str, runtime.Fn] = dict(ns["DEFS"])
        #: derived parameters and invariants: formulas over the parameters only
        self.derived: dict[str, runtime.Fn] = dict(ns["DERIVED"])
        self.invariants: dict[str, runtime.Fn] = dict(ns["INVARIANTS"])
        #: per entity, the function giving an instance's outputs (reported name: value)
        self.outputs: dict[str, runtime.Fn] = dict(ns["OUTPUTS"])
        #: per entity, the same outputs computed as locals of one function (the lazy
        #: function again for a record that fails: see _fast)
        self.fast: dict[str, runtime.Fn] = dict(ns["FAST"])
        #: ... and with its trace: ``(outputs, trace)`` (see _fast)
        self.fast_traces: dict[str, runtime.Fn] = dict(ns["FAST_TRACES"])
        #: per entity, the function giving an instance's trace (``--explain``)
        self.traces: dict[str, runtime.Fn] = dict(ns["TRACES"])
        #: per definition, the parts of a trace entry that never change (not in the
        #: source: they name the policy's file, which the source must not depend on)
        self.trace_static: dict[str, dict[str, Any]] = {}
        for name, cdef in checked.defs.items():
            entry: dict[str, Any] = {"provision": cdef.spec.provision,
                                     "formula": " ".join(cdef.spec.formula.split())}
            quotes = checked.document.quotes(cdef.spec.provision)
            if quotes:
                entry["quotes"] = quotes  # the text of each label cited
            span = cdef.spec.span()
            if span is not None:
                entry["at"] = f"{span.file}:{span.line}"
            self.trace_static[name] = entry
        for name, frames in self.deep.items():
            self.defs[name] = runtime.counted(name, frames, self.defs[name])
        debug = os.environ.get(DEBUG_ENV)
        if debug:
            self.write_source(Path(debug))

    def write_source(self, directory: Path) -> Path:
        """Write the generated source to ``directory/ID@VERSION[.coverage].py``."""
        doc = self.checked.document
        name = f"{doc.id}@{doc.version}{'.coverage' if self.coverage else ''}.py"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / re.sub(r"[^A-Za-z0-9@._-]", "_", name)
        path.write_text(self.source, encoding="utf-8")
        return path

    def always(self, name: str) -> tuple[Resolved, ...]:
        """The definitions definition ``name`` always uses (:func:`runtime.always_used`)."""
        found = self._always.get(name)
        if found is None:
            node = self.checked.defs[name].spec.node
            found = runtime.always_used(node, self.res) if node is not None else ()
            self._always[name] = found
        return found

    def _deep(self) -> dict[str, int]:
        """The definitions whose evaluation, with all the definitions it may use in turn,
        could take more than :data:`runtime.STACK_BUDGET` frames, with their own frames:
        wrapped with :func:`runtime.counted`, and used through ``Inst.get`` so that the
        wrapper sees every use. The others cannot go that deep on their own."""
        defs = self.checked.defs
        frames = {n: 3 + 3 * A.depth(d.spec.node) for n, d in defs.items()
                  if d.spec.node is not None}
        uses = {n: [u for u in sorted(defs[n].uses) if u in frames] for n in frames}
        reach: dict[str, int] = {}
        deep: dict[str, int] = {}
        for n in dependency_order(frames, uses.__getitem__):
            reach[n] = frames[n] + max((reach[u] for u in uses[n]), default=0)
            if reach[n] > runtime.STACK_BUDGET:
                deep[n] = frames[n]
        return deep

    # -- the source ------------------------------------------------------------------

    def generate(self) -> str:
        """The Python source of the whole policy (and the decision sites, when compiled
        for coverage)."""
        self.sites = []
        self._consts: dict[tuple[str, str], str] = {}
        self._const_lines: list[str] = []
        self._helpers: list[str] = []
        self._locals: list[str] = []
        self._iterable = 0
        functions: list[str] = []
        tables: dict[str, list[tuple[str, str]]] = {"DEFS": [], "DERIVED": [],
                                                     "INVARIANTS": []}
        tables["OUTPUTS"] = []
        self._getters = {name: f"d{i}_{_safe(name)}" for i, name in enumerate(
            n for n, c in self.checked.defs.items() if c.spec.node is not None)}
        for name, cdef in self.checked.defs.items():
            node = cdef.spec.node
            if node is not None:
                self._current = name
                fname = self._getters[name]
                functions.append(self._getter(fname, name, node, cdef.spec.entity))
                tables["DEFS"].append((name, fname))
        saved, self.coverage = self.coverage, False
        for table, prefix, group in (("DERIVED", "p", self.checked.derived),
                                     ("INVARIANTS", "i", self.checked.invariants)):
            for name, c in group.items():
                if c.spec.node is not None:
                    fname = f"{prefix}{len(tables[table])}_{_safe(name)}"
                    functions.append(self._function(fname, name, c.spec.node, "global",
                                                    False))
                    tables[table].append((name, fname))
        self.coverage = saved
        tables["TRACES"] = []
        for entity in ("account", "claim", "portfolio"):
            fname = f"o_{entity}"
            functions.append(self._outputs(fname, entity))
            tables["OUTPUTS"].append((entity, fname))
        tables["FAST"] = []
        tables["FAST_TRACES"] = []
        for entity in ("account", "claim"):
            fname = f"f_{entity}"
            fast = None if self.coverage else self._fast(fname, entity)
            if fast is None:
                fname = f"o_{entity}"
                fast = (f"def g_{entity}(inst, params, static):\n"
                        f"    return o_{entity}(inst), t_{entity}(inst, params, static)\n")
            functions.append(fast)
            tables["FAST"].append((entity, fname))
            tables["FAST_TRACES"].append((entity, f"g_{entity}"))
        for entity in ("account", "claim"):
            fname = f"t_{entity}"
            functions.append(self._trace(fname, entity))
            tables["TRACES"].append((entity, fname))
        doc = self.checked.document
        head = (f"# {doc.id}@{doc.version} (sha256 {doc.sha256})"
                f"{', compiled for coverage' if self.coverage else ''}\n"
                "# generated by evaluator.backends.scalar.codegen from the checked policy; "
                "do not edit\n")
        parts = [head, "\n".join(self._const_lines), *self._helpers, *functions]
        for table, rows in tables.items():
            body = "".join(f"    {name!r}: {fname},\n" for name, fname in rows)
            parts.append(f"{table} = {{\n{body}}}\n")
        return "\n\n".join(p for p in parts if p) + "\n"

    def _function(self, fname: str, name: str, node: A.Node, entity: str,
                  coverage: bool) -> str:
        """A formula's function (derived parameters, invariants): its value, no memo."""
        self._fn = _Function(entity)
        body = self.compile(node)
        lines = [f"def {fname}(inst, env=None):",
                 f"    # {name} ({entity})", *self._prelude(self._fn)]
        lines.append(f"    return {body}")
        return "\n".join(lines) + "\n"

    def _getter(self, fname: str, name: str, node: A.Node, entity: str) -> str:
        """A definition's function: evaluates it for an instance whose memo lacks it,
        memoises the value, or the error (naming the definition), raised again when it
        is used again."""
        self._fn = _Function(entity)
        body = self.compile(node)
        key = repr(name)
        lines = [f"def {fname}(inst, env=None):",
                 f"    # {name} ({entity})",
                 f"    if {key} in inst.failed:  # the same error, without its last frames",
                 f"        raise inst.failed[{key}].with_traceback(None)"]
        if self.coverage:
            lines.append(f"    _entered(inst, {key})")
        lines += ["    try:",
                  *("    " + line for line in self._prelude(self._fn)),
                  f"        _v = {body}",
                  "    except _EvaluationError as _e:",
                  f"        raise _failed(inst, {key}, _e)",
                  "    except _ARITHMETIC as _e:",
                  f"        raise _failed(inst, {key}, _e) from None",
                  f"    inst.cache[{key}] = _v",
                  "    return _v"]
        return "\n".join(lines) + "\n"

    def _outputs(self, fname: str, entity: str) -> str:
        """The function giving an instance's outputs, in order, as a dict."""
        doc = self.checked.document
        self._fn = _Function(entity)
        items = []
        for n in doc.outputs.get(entity, ()):
            shown = doc.output_names.get((entity, n), n)
            items.append(f"        {shown!r}: {self._ref(n, self.entities.get(n, entity))},")
        lines = [f"def {fname}(inst):", *self._prelude(self._fn), "    return {", *items,
                 "    }"]
        return "\n".join(lines) + "\n"

    def _fast(self, fname: str, entity: str) -> str | None:
        """The function giving an instance's outputs as :meth:`_outputs` does, faster:
        the definitions of ``entity`` that computing every output always evaluates (its
        outputs and, transitively, what each always uses: :meth:`always`) are locals of
        one function, computed each after those it uses; one used only under a condition
        is computed where it is first needed, into a local too (see :meth:`_ref`); a
        definition of another entity is read from its instance's memo or evaluated as
        usual. The values are those of the lazy order (definitions are pure, and these
        are evaluated whatever the facts are). Only a failure depends on the order: on
        any exception the record is evaluated again by :meth:`_outputs`' function, which
        meets the error it always met. The values other records read
        (``x.definition``) are memoised as soon as computed (a member's definition may
        read them from its other accounts), and read from the memo when already there.

        None when the entity has no such definitions or a formula had to be split into
        a helper (whose scope would lack the locals)."""
        defs = self.checked.defs
        doc = self.checked.document
        mine = {n for n, e in self.entities.items()
                if e == entity and n in self._getters and n not in self.deep}
        outputs = [n for n in doc.outputs.get(entity, ()) if n in mine]
        closure: list[str] = []
        seen: set[str] = set()
        stack = list(reversed(outputs))
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            closure.append(n)
            stack.extend(r.name for r in reversed(self.always(n)) if r.name in mine)
        if not closure:
            return None
        # each after every local it may read, also through the conditional ones
        reach: dict[str, list[str]] = {}

        def reads(n: str) -> list[str]:
            found = reach.get(n)
            if found is None:
                found = reach[n] = []
                for u in sorted(defs[n].uses):
                    if u in seen:
                        found.append(u)
                    elif u in mine:
                        found += (v for v in reads(u) if v not in found)
            return found

        order = dependency_order(closure, reads)
        shared = {r.name for r in self.res.values()
                  if r.kind == "attr_def" and r.entity == entity and r.name in seen}
        helpers = len(self._helpers)
        self._fn = _Function(entity)
        self._fast_mine = mine
        self._inline = {}
        body = []
        try:
            for n in order:
                self._current = n
                node = defs[n].spec.node
                assert node is not None
                var, src = f"l_{_safe(n)}", self.compile(node)
                if n in shared:
                    self._fn.uses.add("c")
                    body += [f"        {var} = _c[{n!r}] if {n!r} in _c else {src}  # {n}",
                             f"        _c[{n!r}] = {var}"]
                else:
                    body.append(f"        {var} = {src}  # {n}")
                self._fast_locals[n] = var
            items = []
            for n in doc.outputs.get(entity, ()):
                shown = doc.output_names.get((entity, n), n)
                items.append(f"        {shown!r}: {self._ref(n, self.entities.get(n, entity))},")
        finally:
            self._fast_locals = {}
            self._fast_mine = set()
        if len(self._helpers) != helpers:
            del self._helpers[helpers:]
            return None
        unset = [f"    l_{_safe(n)} = _U" for n in self._inline]
        plain = "\n".join([f"def {fname}(inst):", *self._prelude(self._fn), *unset,
                           "    try:", *body, "        return {", *items, "        }",
                           "    except Exception:  # the lazy order, for the error it meets",
                           f"        return o_{entity}(inst)"]) + "\n"
        trace = self._fast_trace(entity, set(order))
        traced = "\n".join([
            f"def {fname.replace('f_', 'g_', 1)}(inst, params, static):",
            *self._prelude(self._fn), *unset, "    try:", *body,
            "        _values = {", *items, "        }",
            "    except Exception:  # the lazy order, for the error it meets",
            f"        return o_{entity}(inst), t_{entity}(inst, params, static)",
            *trace, "    return _values, _out"]) + "\n"
        return plain + "\n\n" + traced

    def _fast_trace(self, entity: str, computed: set[str]) -> list[str]:
        """The lines making the trace in the fast function with the trace: as
        :meth:`_trace` makes it, the entries of the definitions ``computed`` (the
        function's locals) made unconditionally from the locals, those computed where
        first needed when they were (or are in the memo), the others when memoised."""
        defs = self.checked.defs
        outputs = self.checked.document.outputs.get(entity, ())
        plan = dependency_order((n for n in outputs if n in defs),
                                lambda n: sorted(u for u in defs[n].uses if u in defs))
        body = ["    _out = []"]
        fixed: set[str] = set()  # the parameters of the entries always made
        dynamic = False
        for n in plan:
            owner = defs[n].spec.entity
            key = repr(n)
            params = sorted(defs[n].params)
            var = f"l_{_safe(n)}"
            if owner == entity:
                self._fn.uses.add("c")
                if n in computed:
                    cond, value, indent = None, var, "    "
                elif n in self._inline:
                    cond = f"{var} is not _U or {key} in _c"
                    value, indent = f"({var} if {var} is not _U else _c[{key}])", "        "
                else:
                    cond, value, indent = f"{key} in _c", f"_c[{key}]", "        "
                if cond is not None:
                    body.append(f"    if {cond}:")
                if not _has_entity(defs[n].type):
                    if value != var:
                        body.append(f"{indent}_v = {value}")
                        value = "_v"
                    body.append(f"{indent}_out.append({{'definition': {key}, 'entity': "
                                f"{owner!r}, 'value': {json_source(defs[n].type, value, 0)}, "
                                f"**static[{key}]}})")
                    if cond is None:
                        fixed.update(params)
                    elif params:
                        dynamic = True
                        body.append(f"{indent}_used.update({tuple(params)!r})")
                    continue
                body += [f"{indent}_e = _entry_of({key}, {owner!r}, {value}, static)",
                         f"{indent}if _e is not None:", f"{indent}    _out.append(_e)"]
            elif owner == "global" or (owner == "member" and entity == "account"):
                inst, cache = ("_gi", "_gc") if owner == "global" else ("_mi", "_mc")
                self._fn.uses.add("g" if owner == "global" else "m")
                body += [f"    if {key} in {cache}:",
                         f"        _e = _shared_entry({inst}, {key}, {owner!r}, static)",
                         "        if _e is not None:", "            _out.append(_e)"]
                indent = "        "
            else:
                continue  # not seen from this entity
            if params:
                dynamic = True
                body.append(f"{indent}    _used.update({tuple(params)!r})")
        names = self._const("params", repr(tuple(sorted(fixed))))
        if dynamic:
            body.insert(1, f"    _used = set({names})")
            body.append("    _out.extend([params[p] for p in sorted(_used)])")
        else:
            body.append(f"    _out.extend([params[p] for p in {names}])")
        return body

    def _trace(self, fname: str, entity: str) -> str:
        """The function giving an instance's trace: the definitions its outputs use that
        were evaluated, each after those it uses, then the parameters they read
        (``params``: their entries), as :meth:`evaluator.policy.Policy.trace` makes it."""
        defs = self.checked.defs
        outputs = self.checked.document.outputs.get(entity, ())
        plan = dependency_order((n for n in outputs if n in defs),
                                lambda n: sorted(u for u in defs[n].uses if u in defs))
        self._fn = _Function(entity)
        body = ["    _out = []", "    _used = set()"]
        for n in plan:
            owner = defs[n].spec.entity
            key = repr(n)
            if owner == entity and not _has_entity(defs[n].type):
                # the entry made here, its value converted as its checked type says
                self._fn.uses.add("c")
                body += [f"    if {key} in _c:",
                         f"        _v = _c[{key}]",
                         f"        _out.append({{'definition': {key}, 'entity': {owner!r}, "
                         f"'value': {json_source(defs[n].type, '_v', 0)}, **static[{key}]}})"]
                params = sorted(defs[n].params)
                if params:
                    body.append(f"        _used.update({tuple(params)!r})")
                continue
            if owner == entity:
                self._fn.uses.add("c")
                body += [f"    if {key} in _c:",
                         f"        _e = _trace_entry(inst, {key}, {owner!r}, static)"]
            elif owner == "global" or (owner == "member" and entity == "account"):
                inst, cache = ("_gi", "_gc") if owner == "global" else ("_mi", "_mc")
                self._fn.uses.add("g" if owner == "global" else "m")
                body += [f"    if {key} in {cache}:",
                         f"        _e = _shared_entry({inst}, {key}, {owner!r}, static)"]
            else:
                continue  # not seen from this entity
            params = sorted(defs[n].params)
            body += ["        if _e is not None:", "            _out.append(_e)"]
            if params:
                body.append(f"            _used.update({tuple(params)!r})")
        body += ["    _out.extend([params[p] for p in sorted(_used)])", "    return _out"]
        lines = [f"def {fname}(inst, params, static):", *self._prelude(self._fn), *body]
        return "\n".join(lines) + "\n"

    def _ref(self, name: str, entity: str) -> str:
        """A definition's value from the current function's instance: from the memo of
        the instance it belongs to, else evaluated."""
        uses = self._fn.uses
        if entity == "global":
            uses.add("g")
            inst, cache = "_gi", "_gc"
        elif entity == "member":
            uses.add("m")
            inst, cache = "_mi", "_mc"
        else:
            uses.add("c")
            inst, cache = "inst", "_c"
        if self._fast_mine and entity == self._fn.entity:
            local = self._fast_locals.get(name)
            if local is not None:
                return local
            if name in self._fast_mine and not self._iterable:
                # used under a condition: computed here the first time, into a local
                src = self._inline.get(name)
                if src is None:
                    node = self.checked.defs[name].spec.node
                    assert node is not None
                    src = self._inline[name] = self.compile(node)
                if len(src) <= INLINE_LIMIT:
                    var = f"l_{_safe(name)}"
                    return f"({var} if {var} is not _U else ({var} := {src}))"
                del self._inline[name]
        key = repr(name)
        if name in self.deep or name not in self._getters:
            call = f"{inst}.get({key})"
        else:
            call = f"{self._getters[name]}({inst})"
        return f"({cache}[{key}] if {key} in {cache} else {call})"

    def _prelude(self, fn: _Function) -> list[str]:
        uses = fn.uses
        out = []
        if "c" in uses:
            out.append("    _c = inst.cache")
        if uses & {"r", "p", "g"}:
            out.append("    _r = inst.run")
        if "p" in uses:
            out.append("    _p = _r.params")
        if "o" in uses:
            out.append("    _o = inst.obj")
        if "ev" in uses:
            out.append("    _ev = inst.events()")
        if "m" in uses:
            member = {"member": "inst", "account": "inst.member"}.get(
                fn.entity, "inst if inst.kind == 'member' else inst.member")
            out += [f"    _mi = {member}", "    _mc = _mi.cache"]
        if "g" in uses:
            out += ["    _gi = _r.global_inst", "    _gc = _gi.cache"]
        return out

    def _const(self, kind: str, text: str) -> str:
        key = (kind, text)
        found = self._consts.get(key)
        if found is None:
            found = f"_k{len(self._consts)}"
            self._consts[key] = found
            self._const_lines.append(f"{found} = {text}")
        return found

    def _value(self, value: Any) -> str:
        """A constant's expression: inline for numbers, booleans and null, else a name
        defined once at the top of the source."""
        if value is None or isinstance(value, bool):
            return repr(value)
        if isinstance(value, int):
            return repr(value) if value >= 0 else f"({value!r})"
        if isinstance(value, str):  # inline unless it holds brackets (see nesting)
            text = repr(value)
            return self._const("str", text) if _BRACKETS.search(text) else text
        if isinstance(value, Decimal):
            return self._const("decimal", f"_D({str(value)!r})")
        if isinstance(value, _dt.date):
            return self._const("date", f"_date({value.year}, {value.month}, {value.day})")
        if isinstance(value, Duration):
            return self._const("duration", f"_Duration({value.months}, {value.days})")
        if isinstance(value, MonthDay):
            return self._const("month_day", f"_MonthDay({value.month}, {value.day})")
        raise TypeError(f"no source for the constant {value!r}")  # pragma: no cover

    def _type(self, t: T.Type) -> str:
        return self._const("type", _type_source(t))

    def _temp(self) -> str:
        self._fn.temps += 1
        return f"_t{self._fn.temps}"

    def _local(self, var: str) -> str:
        """A comprehension variable's Python name (the grammar's names are ASCII
        identifiers; the prefix keeps them apart from Python's keywords and ours)."""
        return "v_" + var

    def _site(self, kind: str, node: A.Node) -> int:
        spec = self.checked.defs[self._current].spec
        site = DecisionSite(len(self.sites), self._current, kind, spec.span(node),
                            A.unparse(node))
        self.sites.append(site)
        return site.id

    def _decision(self, kind: str, node: A.Node, src: str) -> str:
        """``src`` (a condition), recording its outcome when compiled for coverage."""
        if not self.coverage:
            return src
        return f"_decided(inst, {self._site(kind, node)}, {src})"

    # -- compilation -----------------------------------------------------------------

    def compile(self, node: A.Node) -> str:
        """The Python expression of ``node``: the entry of every recursion (children are
        compiled through it, so a patch of this method sees every node compiled). A part
        nested too deeply for Python becomes a function of its own."""
        src = self.visit(node)
        if len(src) > SPLIT_DEPTH and nesting(src) > SPLIT_DEPTH:
            src = self._split(src)
        return src

    def _split(self, src: str) -> str:
        """``src`` moved into a helper function called with the instance and the
        comprehension variables in scope."""
        fname = f"_h{len(self._helpers)}"
        params = ", ".join(["inst", *dict.fromkeys(self._locals)])
        prelude = self._prelude(self._fn)
        self._helpers.append("\n".join([f"def {fname}({params}):", *prelude,
                                        f"    return {src}"]) + "\n")
        return f"{fname}({params})"

    def visit_Literal(self, node: A.Literal) -> str:
        return self._value(node.value)

    def visit_Unary(self, node: A.Unary) -> str:
        operand = self.compile(node.operand)
        if node.op == "not":
            return f"(not {operand})"
        return f"(-{operand})"

    def visit_If(self, node: A.If) -> str:
        c, a, b = (self.compile(n) for n in (node.cond, node.then, node.orelse))
        c = self._decision("if", node.cond, c)
        return f"({a} if {c} else {b})"

    def visit_ListComp(self, node: A.ListLit) -> str:
        # `[e for x in xs]` is the comprehension itself: compiled here, not through
        # `compile`, so the list and its comprehension are one node compiled
        comprehension = node.comprehension
        assert comprehension is not None
        return self.visit_Comprehension(comprehension)

    def visit_ListLit(self, node: A.ListLit) -> str:
        items = [self.compile(i) for i in node.items]
        if not items:
            return "()"
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

    def visit_RecordLit(self, node: A.RecordLit) -> str:
        fields = [(k, self.compile(v)) for k, v in node.fields]
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in fields) + "}"

    def visit_Name(self, node: A.Name) -> str:
        r: Resolved = self.res[id(node)]
        name = r.name
        uses = self._fn.uses
        if r.kind == "local":
            return self._local(name)
        if r.kind == "def":
            return self._ref(name, r.entity)
        if r.kind == "field":
            if name == "events" and self._fast_mine and self._fn.entity == "account":
                uses.add("ev")  # once per record in the fast function
                return "_ev"
            if name in _INSTANCE_FIELDS:
                return _INSTANCE_FIELDS[name]
            uses.add("o")
            if name in RECORD_FIELDS.get(self._fn.entity, ()) and _IDENT.match(name) \
                    and not keyword.iskeyword(name):
                return f"_o.{name}"
            return f"_field(_o, {name!r})"
        if r.kind == "param":
            uses.add("p")
            return f"_p[{name!r}]"
        if r.kind == "as_of":
            uses.add("r")
            return "_r.as_of"
        raise TypeError(r)  # pragma: no cover

    def visit_Attr(self, node: A.Attr) -> str:
        r: Resolved = self.res[id(node)]
        obj = self.compile(node.obj)
        name = r.name
        if r.kind == "record":
            return f"{obj}[{name!r}]"
        if r.kind == "attr_def":
            return f"{obj}.get({name!r})"
        obj_type = T.strip(self.types[id(node.obj)])
        if isinstance(obj_type, T.EntityT) and obj_type.name == "event":
            if name in RECORD_FIELDS["event"] and not keyword.iskeyword(name):
                return f"{obj}.{name}"
            return f"_field({obj}, {name!r})"
        return f"{obj}.field({name!r})"

    def _coalesce(self, left: str, right: str) -> str:
        if self._iterable:  # no `:=` in a comprehension's iterable
            return f"(lambda _t: _t if _t is not None else {right})({left})"
        t = self._temp()
        return f"({t} if ({t} := {left}) is not None else {right})"

    def visit_Binary(self, node: A.Binary) -> str:
        op = node.op
        left = self.compile(node.left)
        right = self.compile(node.right)
        if op in ("and", "or"):
            left = self._decision(op, node.left, left)
            right = self._decision(op, node.right, right)
            return f"({left} {op} {right})"
        if op == "??":
            return self._coalesce(left, right)
        if op in ("in", "not in") or op in A.COMPARE_OPS:
            return f"({left} {op} {right})"
        lt = self.types[id(node.left)]
        rt = self.types[id(node.right)]
        # the operands are evaluated in the order the interpreter always has
        if op == "+":
            if lt == T.DATE:
                return f"_add_duration({left}, {right})"
            if rt == T.DATE:
                return f"_add_duration({right}, {left})"
            if isinstance(lt, T.ListT):
                return f"(tuple({left}) + tuple({right}))"
            return f"({left} + {right})"
        if op == "-":
            if lt == T.DATE:
                return f"_add_duration({left}, -{right})"
            return f"({left} - {right})"
        if op == "*":
            if lt == T.DURATION:
                return f"_times({left}, {right})"
            if rt == T.DURATION:
                return f"_times({right}, {left})"
            return f"({left} * {right})"
        if op == "/":
            return f"_divide({left}, {right})"
        raise TypeError(op)  # pragma: no cover

    def visit_Call(self, node: A.Call) -> str:
        b = BUILTINS[node.func]
        args = [self.compile(a) for a in node.args]
        impl = "_f_" + node.func
        if b.typed:
            args.insert(0, self._type(self.types[id(node)]))
        elif b.needs_run:
            self._fn.uses.add("r")
            args.insert(0, "_r")
        return f"{impl}({', '.join(args)})"

    def visit_Comprehension(self, node: A.Comprehension) -> str:
        var = self._local(node.var)
        self._iterable += 1
        try:
            iterable = self.compile(node.iterable)
        finally:
            self._iterable -= 1
        self._locals.append(var)
        try:
            element = self.compile(node.element)
            cond = (self._decision("filter", node.cond, self.compile(node.cond))
                    if node.cond is not None else None)
        finally:
            self._locals.pop()
        tail = f" if {cond}" if cond is not None else ""
        return f"tuple([{element} for {var} in {iterable}{tail}])"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _type_source(t: T.Type) -> str:
    """A type's expression over :mod:`typesys` (``_T``), for the typed builtins."""
    if isinstance(t, T.Prim):
        return f"_T.Prim({t.name!r})"
    if isinstance(t, T.OptionalT):
        return f"_T.OptionalT({_type_source(t.inner)})"
    if isinstance(t, T.ListT):
        return f"_T.ListT({_type_source(t.elem)})"
    raise TypeError(f"no source for the type {t}")  # pragma: no cover


#: the JSON form of a value of a primitive type: (its class, the expression over ``{}``)
_JSON_PRIMS = {"Bool": ("bool", "{}"), "Int": ("int", "{}"), "Text": ("str", "{}"),
               "Date": ("_date", "{}.isoformat()"), "Money": ("_D", "_fmt_dec({})"),
               "Number": ("_D", "_fmt_dec({})")}


def json_source(t: T.Type, var: str, depth: int) -> str:
    """The expression giving the trace's JSON form of ``var``, a value of type ``t``:
    written for the class the type says, with :func:`runtime.json_value` for any value
    of another class (so the form is the same whatever the value turns out to be)."""
    if isinstance(t, T.Prim) and t.name in _JSON_PRIMS:
        cls, form = _JSON_PRIMS[t.name]
        return f"({form.format(var)} if {var}.__class__ is {cls} else _json({var}))"
    if isinstance(t, T.OptionalT):
        return f"(None if {var} is None else {json_source(t.inner, var, depth)})"
    if isinstance(t, T.ListT) and depth < 3:
        item = f"_j{depth}"
        return (f"([{json_source(t.elem, item, depth + 1)} for {item} in {var}] "
                f"if {var}.__class__ is tuple else _json({var}))")
    return f"_json({var})"


def _has_entity(t: T.Type) -> bool:
    """Whether values of ``t`` may hold entity instances (their entries are made at run
    time, which leaves an instance out)."""
    if isinstance(t, T.EntityT):
        return True
    if isinstance(t, T.OptionalT):
        return _has_entity(t.inner)
    if isinstance(t, T.ListT):
        return _has_entity(t.elem)
    if isinstance(t, T.RecordT):
        return any(_has_entity(f) for _, f in t.fields)
    return not isinstance(t, T.Prim)
