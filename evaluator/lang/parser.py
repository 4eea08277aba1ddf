"""Expression text -> AST, through one cached LALR parser built from grammar/policy.lark."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from evaluator.errors import ExpressionSyntaxError
from evaluator.lang import nodes as A
from evaluator.lang.values import MONTHS, Duration, MonthDay, parse_iso_date
from evaluator.resources import grammar_file

#: the longest expression accepted; longer text is refused before parsing
MAX_EXPRESSION_LENGTH = 20_000
#: how deeply brackets may nest; deeper text is refused before parsing
MAX_NESTING = 100
#: how deeply the parts of a formula may nest: each operator, `not`, unary minus, `.field`,
#: `if`, call, list, record and comprehension around another part is one level (names and
#: literals are not: ``not not x`` and ``[[1]]`` are two deep, brackets alone never count).
#: Deeper formulas are refused right after parsing, so that the recursive walks over a
#: formula (type inference, compilation, evaluation, unparsing) stay far below Python's
#: recursion limit; the shipped policies nest at most 10 deep.
MAX_DEPTH = 100
#: the most digits a whole number may have (integers, durations, days of the year)
MAX_INT_DIGITS = 30
#: the largest count of a duration literal (``100000 days``)
MAX_DURATION = 100_000

_TOKEN_NAMES = {
    "NAME": "a name", "INT": "a whole number", "DECIMAL": "a decimal number",
    "DATE": "a date", "STRING": "a text in quotes", "PERCENT": "a percentage",
    "DURATION_UNIT": "a unit (years, months, weeks, days)", "MONTH": "a month (Jan..Dec)",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`",
    "RBRACE": "`}`", "COMMA": "`,`", "DOT": "`.`", "COLON": "`:`", "PLUS": "`+`",
    "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "$END": "the end of the formula",
}


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    text = grammar_file().read_text(encoding="utf-8")
    options: dict[str, Any] = {"parser": "lalr", "propagate_positions": True,
                               "maybe_placeholders": True}
    cache = _cache_file(text)
    if cache is not None:
        try:
            return Lark(text, cache=str(cache), **options)
        except (OSError, EOFError, ValueError):
            pass  # an unwritable or damaged cache: build the parser in memory
    return Lark(text, **options)


def _cache_file(grammar: str) -> Path | None:
    """Where to keep Lark's grammar analysis between runs (it halves the cold start).

    Lark stores it as a pickle, so it lives only in a directory private to this user
    (never a shared temporary directory), named after the grammar's hash.
    It is the folder of the policy cache (:func:`evaluator.lang.cache.cache_dir`:
    ``UNCLAIMED_CACHE_DIR`` moves it, ``UNCLAIMED_NO_CACHE=1`` turns it off)."""
    from evaluator.lang.cache import cache_dir

    folder = cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = folder.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None
    except (OSError, AttributeError):
        return None
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    return folder / f"policy-grammar-{digest}.lark-cache"


def parse_expression(text: str) -> A.Node:
    """Parse one formula. Raises :class:`ExpressionSyntaxError` with offsets into ``text``."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(f"formula is {len(text)} characters long; the limit is "
                                    f"{MAX_EXPRESSION_LENGTH}", 0, 0,
                                    "split it into several definitions")
    _check_nesting(text)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    _check_depth(tree)
    return _Build(text).build(tree)


def parse_literal(text: str) -> A.Literal | A.ListLit | A.RecordLit | A.Unary:
    """Parse a parameter value: a literal, a negated literal, or a list/record of them."""
    node = parse_expression(text)
    if not _is_constant(node):
        raise ExpressionSyntaxError("a parameter value must be a literal (a date, duration, "
                                    "number, text, ...), not a formula", node.start, node.end,
                                    "move the computation into a definition")
    assert isinstance(node, A.Literal | A.ListLit | A.RecordLit | A.Unary)
    return node


def _is_constant(node: A.Node) -> bool:
    if isinstance(node, A.Literal):
        return True
    if isinstance(node, A.Unary) and node.op == "-":
        return isinstance(node.operand, A.Literal)
    if isinstance(node, A.ListLit):
        return all(_is_constant(i) for i in node.items)
    if isinstance(node, A.RecordLit):
        return all(_is_constant(v) for _, v in node.fields)
    return False


def _check_nesting(text: str) -> None:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise ExpressionSyntaxError(f"brackets nest more than {MAX_NESTING} deep",
                                            i, i + 1, "split the formula into definitions")
        elif ch in ")]}":
            depth -= 1


def _check_depth(tree: Tree[Any]) -> None:
    """Refuse a parse tree that would build a syntax tree more than :data:`MAX_DEPTH` deep,
    at the outermost part that is too deep (the first one, reading left to right). The
    tree is walked with a stack, not recursively: the parser itself handles any depth."""
    stack: list[tuple[Tree[Any], int]] = [(tree, 0)]
    while stack:
        t, depth = stack.pop()
        parts = [c for c in t.children if isinstance(c, Tree)]
        if parts and t.data in _NODE_RULES:
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionSyntaxError(
                    "formula is nested too deeply", getattr(t.meta, "start_pos", 0),
                    getattr(t.meta, "end_pos", 0),
                    f"a formula nests at most {MAX_DEPTH} levels deep; split it into "
                    "several definitions")
        stack.extend((c, depth) for c in reversed(parts))


def _whole_number(raw: str) -> int | None:
    """The value of a run of digits, or None when it has more than :data:`MAX_INT_DIGITS`
    significant digits (Python refuses to convert more than 4,300 digits at all)."""
    digits = raw.lstrip("0")
    if len(digits) > MAX_INT_DIGITS:
        return None
    return int(digits or "0")


def _syntax_error(text: str, exc: UnexpectedInput) -> ExpressionSyntaxError:
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[pos] if pos < len(text) else ""
        help_ = None
        if ch == "=":
            help_ = "compare with `==`"
        elif ch in "&|!":
            help_ = "use `and`, `or`, `not`"
        return ExpressionSyntaxError(f"unexpected character `{ch}`", pos, pos + 1, help_)
    if isinstance(exc, UnexpectedEOF):
        return ExpressionSyntaxError("the formula ends too early", len(text), len(text),
                                     _expected_hint(exc.expected))
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        end = pos + max(1, len(str(tok))) if tok.type != "$END" else pos
        what = "the end of the formula" if tok.type == "$END" else f"`{tok}`"
        expected = _expected_hint(exc.expected)
        help_ = expected
        after_operand = "PLUS" in exc.expected or "$END" in exc.expected
        if str(tok) in ("==", "!=", "<", "<=", ">", ">=") or (
                str(tok) in ("in", "not") and after_operand):
            help_ = "comparisons do not chain: write `a < b and b < c`"
        if tok.type == "$END":
            return ExpressionSyntaxError("the formula ends too early", len(text), len(text),
                                         help_)
        if tok.type in ("NAME", "INT", "DECIMAL", "DATE", "STRING", "PERCENT") and (
                "PLUS" in exc.expected or "$END" in exc.expected):
            help_ = "two values in a row: is an operator (`+`, `and`, `==`, ...) or a comma " \
                    "missing before it?"
        return ExpressionSyntaxError(f"unexpected {what}", pos, end, help_)
    return ExpressionSyntaxError(str(exc).splitlines()[0], pos, pos + 1)


def _expected_hint(expected: Any) -> str | None:
    if not expected:
        return None
    if "NAME" in expected and "INT" in expected:
        return "expected a value: a name, a number, a date, a text, `(`, `[` or `{`"
    names = sorted({_TOKEN_NAMES.get(e, f"`{e.lower()}`" if e.isalpha() else e)
                    for e in expected if not e.startswith("__")})
    if not names:
        return None
    if len(names) > 6:
        names = [*names[:6], "..."]
    return "expected " + ", ".join(names)


class _Build:
    """Lark tree -> AST nodes, each with start/end offsets into the formula text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def build(self, t: Tree[Any] | Token) -> A.Node:
        if isinstance(t, Token):
            raise ExpressionSyntaxError(f"unexpected `{t}`", t.start_pos or 0,
                                        t.end_pos or 0)
        meth = getattr(self, "b_" + str(t.data), None)
        if meth is None:  # pragma: no cover - grammar and builder out of step
            raise ExpressionSyntaxError(f"unsupported construct `{t.data}`", 0, len(self.text))
        node: A.Node = meth(t, t.meta.start_pos, t.meta.end_pos)
        return node

    # literals
    def b_date_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        tok = t.children[0]
        try:
            value = parse_iso_date(str(tok))
        except ValueError as exc:
            raise ExpressionSyntaxError(str(exc), s, e, "dates are YYYY-MM-DD") from None
        return A.Literal(value, "date", str(tok), start=s, end=e)

    def b_bad_date_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        raw = str(t.children[0])
        y, m, d = raw.split("-")
        raise ExpressionSyntaxError(f"`{raw}` is not a date in the form YYYY-MM-DD", s, e,
                                    f"write `{y}-{int(m):02d}-{int(d):02d}`; for "
                                    "subtraction put spaces around `-`")

    def b_duration_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        raw, written = str(t.children[0]), str(t.children[1])
        n = _whole_number(raw)
        if n is None:
            raise ExpressionSyntaxError(
                f"duration of {len(raw)} digits is too long", s, e,
                f"a duration is at most {MAX_DURATION} years, months, weeks or days")
        if n > MAX_DURATION:
            raise ExpressionSyntaxError(f"duration `{n} {written}` is too long", s, e)
        dur = {"year": Duration(months=12 * n), "month": Duration(months=n),
               "week": Duration(days=7 * n), "day": Duration(days=n)}[written.rstrip("s")]
        return A.Literal(dur, "duration", f"{n} {written}", start=s, end=e)

    def b_month_day_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        raw, written = str(t.children[0]), str(t.children[1])
        hint = "write a day such as `15 Oct`"
        day = _whole_number(raw)
        if day is None:
            raise ExpressionSyntaxError(f"{written} has no day of {len(raw)} digits", s, e,
                                        hint)
        try:
            md = MonthDay(MONTHS.index(written) + 1, day)
        except ValueError as exc:
            raise ExpressionSyntaxError(str(exc), s, e, hint) from None
        return A.Literal(md, "month_day", f"{day} {written}", start=s, end=e)

    def b_percent_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        raw = str(t.children[0])
        return A.Literal(Decimal(raw[:-1]) / 100, "percent", raw, start=s, end=e)

    def b_decimal_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        raw = str(t.children[0])
        try:
            return A.Literal(Decimal(raw), "decimal", raw, start=s, end=e)
        except InvalidOperation:  # pragma: no cover - the token regex prevents it
            raise ExpressionSyntaxError(f"bad number `{raw}`", s, e) from None

    def b_int_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        raw = str(t.children[0])
        if len(raw) > MAX_INT_DIGITS:
            raise ExpressionSyntaxError("number is too long", s, e)
        return A.Literal(int(raw), "int", raw, start=s, end=e)

    def b_text_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        raw = str(t.children[0])
        body = raw[1:-1]
        out: list[str] = []
        i = 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body):
                nxt = body[i + 1]
                out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
                i += 2
            else:
                out.append(ch)
                i += 1
        return A.Literal("".join(out), "text", raw, start=s, end=e)

    def b_true_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.Literal(True, "bool", "true", start=s, end=e)

    def b_false_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.Literal(False, "bool", "false", start=s, end=e)

    def b_null_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.Literal(None, "null", "null", start=s, end=e)

    # names and structure
    def b_name(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.Name(str(t.children[0]), start=s, end=e)

    def b_attr(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.Attr(self.build(t.children[0]), str(t.children[1]), start=s, end=e)

    def b_neg(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.Unary("-", self.build(t.children[0]), start=s, end=e)

    def b_not_op(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.Unary("not", self.build(t.children[0]), start=s, end=e)

    def _bin(self, op: str, t: Tree[Any], s: int, e: int) -> A.Node:
        kids = [c for c in t.children if isinstance(c, Tree)]
        return A.Binary(op, self.build(kids[0]), self.build(kids[1]), start=s, end=e)

    def b_or_op(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("or", t, s, e)

    def b_and_op(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("and", t, s, e)

    def b_eq(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("==", t, s, e)

    def b_ne(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("!=", t, s, e)

    def b_lt(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("<", t, s, e)

    def b_le(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("<=", t, s, e)

    def b_gt(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin(">", t, s, e)

    def b_ge(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin(">=", t, s, e)

    def b_in_op(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("in", t, s, e)

    def b_not_in_op(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("not in", t, s, e)

    def b_coalesce_op(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("??", t, s, e)

    def b_add(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("+", t, s, e)

    def b_sub(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("-", t, s, e)

    def b_mul(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("*", t, s, e)

    def b_div(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return self._bin("/", t, s, e)

    def b_if_expr(self, t: Tree[Any], s: int, e: int) -> A.Node:
        c, a, b = (self.build(k) for k in t.children)
        return A.If(c, a, b, start=s, end=e)

    def b_call(self, t: Tree[Any], s: int, e: int) -> A.Node:
        name_tok = t.children[0]
        assert isinstance(name_tok, Token)
        arg_tree = t.children[1]
        args: tuple[A.Node, ...] = ()
        if arg_tree is not None:
            if arg_tree.data == "gen_arg":
                args = (self.b_comprehension(arg_tree.children[0]),)
            else:
                args = tuple(self.build(k) for k in arg_tree.children if k is not None)
        return A.Call(str(name_tok), args, start=s, end=e,
                      name_end=name_tok.end_pos or s)

    def b_comprehension(self, t: Tree[Any]) -> A.Comprehension:
        elem, var, iterable, cond = t.children
        return A.Comprehension(self.build(elem), str(var), self.build(iterable),
                               self.build(cond) if cond is not None else None,
                               start=t.meta.start_pos, end=t.meta.end_pos)

    def b_list_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.ListLit(tuple(self.build(k) for k in t.children if k is not None),
                         start=s, end=e)

    def b_list_comp(self, t: Tree[Any], s: int, e: int) -> A.Node:
        return A.ListLit((self.b_comprehension(t.children[0]),), start=s, end=e)

    def b_record_lit(self, t: Tree[Any], s: int, e: int) -> A.Node:
        fields: list[tuple[str, A.Node]] = []
        seen: set[str] = set()
        for f in t.children:
            if f is None:
                continue
            key = str(f.children[0])
            if key in seen:
                raise ExpressionSyntaxError(f"field `{key}` is given twice", f.meta.start_pos,
                                            f.meta.end_pos)
            seen.add(key)
            fields.append((key, self.build(f.children[1])))
        return A.RecordLit(tuple(fields), start=s, end=e)


#: the parse-tree rules that become one syntax-tree node each (the levels MAX_DEPTH counts)
_NODE_RULES = frozenset(name[2:] for name in vars(_Build) if name.startswith("b_"))


def today() -> _dt.date:  # pragma: no cover - convenience for the CLI
    return _dt.date.today()
