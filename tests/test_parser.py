"""Tests for evaluator.parser: precedence, literals, names, spans, errors, and the
``parse(unparse(tree)) == tree`` round trip over generated trees."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator import ast as A
from evaluator.errors import ExpressionSyntaxError
from evaluator.parser import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING,
    parse_expression,
    parse_literal,
)
from evaluator.values import Duration, MonthDay

# --------------------------------------------------------------------------- helpers


def N(name: str) -> A.Name:
    return A.Name(name)


def B(op: str, left: A.Node, right: A.Node) -> A.Binary:
    return A.Binary(op, left, right)


def U(op: str, operand: A.Node) -> A.Unary:
    return A.Unary(op, operand)


def Int(n: int) -> A.Literal:
    return A.Literal(n, "int", str(n))


def syntax_error(text: str) -> ExpressionSyntaxError:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_expression(text)
    return info.value


# --------------------------------------------------------------------------- precedence

PRECEDENCE = [
    ("a or b and c", B("or", N("a"), B("and", N("b"), N("c")))),
    ("a and b or c", B("or", B("and", N("a"), N("b")), N("c"))),
    ("a ?? b + c", B("??", N("a"), B("+", N("b"), N("c")))),
    ("a + b ?? c", B("??", B("+", N("a"), N("b")), N("c"))),
    ("-x * y", B("*", U("-", N("x")), N("y"))),
    ("-(x * y)", U("-", B("*", N("x"), N("y")))),
    ("not a == b", U("not", B("==", N("a"), N("b")))),
    ("not a and b", B("and", U("not", N("a")), N("b"))),
    ("not not a", U("not", U("not", N("a")))),
    ("a + b * c", B("+", N("a"), B("*", N("b"), N("c")))),
    ("(a + b) * c", B("*", B("+", N("a"), N("b")), N("c"))),
    ("a == b + c", B("==", N("a"), B("+", N("b"), N("c")))),
    ("a ?? b == c", B("==", B("??", N("a"), N("b")), N("c"))),
    ("a < b and b < c", B("and", B("<", N("a"), N("b")), B("<", N("b"), N("c")))),
    ("x in xs or y not in ys", B("or", B("in", N("x"), N("xs")),
                                 B("not in", N("y"), N("ys")))),
    ("not x in xs", U("not", B("in", N("x"), N("xs")))),
    ("a.b.c", A.Attr(A.Attr(N("a"), "b"), "c")),
    ("-a.b", U("-", A.Attr(N("a"), "b"))),
    ("f(x).y", A.Attr(A.Call("f", (N("x"),)), "y")),
    ("a - -b", B("-", N("a"), U("-", N("b")))),
    ("--a", U("-", U("-", N("a")))),
    ("if a then b else c or d", A.If(N("a"), N("b"), B("or", N("c"), N("d")))),
    ("if a then b else if c then d else e",
     A.If(N("a"), N("b"), A.If(N("c"), N("d"), N("e")))),
    ("if if a then b else c then d else e",
     A.If(A.If(N("a"), N("b"), N("c")), N("d"), N("e"))),
]

ASSOCIATIVITY = [
    ("a - b - c", B("-", B("-", N("a"), N("b")), N("c"))),
    ("a / b / c", B("/", B("/", N("a"), N("b")), N("c"))),
    ("a - b + c", B("+", B("-", N("a"), N("b")), N("c"))),
    ("a * b / c", B("/", B("*", N("a"), N("b")), N("c"))),
    ("a ?? b ?? c", B("??", B("??", N("a"), N("b")), N("c"))),
    ("a or b or c", B("or", B("or", N("a"), N("b")), N("c"))),
    ("a and b and c", B("and", B("and", N("a"), N("b")), N("c"))),
    ("a - (b - c)", B("-", N("a"), B("-", N("b"), N("c")))),
]


@pytest.mark.parametrize(("text", "tree"), PRECEDENCE + ASSOCIATIVITY,
                         ids=[t for t, _ in PRECEDENCE + ASSOCIATIVITY])
def test_precedence_and_associativity(text: str, tree: A.Node) -> None:
    parsed = parse_expression(text)
    assert parsed == tree
    # unparse writes the fewest brackets that keep the tree
    assert parse_expression(A.unparse(parsed)) == tree


@pytest.mark.parametrize("text", [
    "a < b < c", "a == b == c", "a <= b > c", "a != b >= c",
    "a in b in c", "a == b not in c",
])
def test_comparisons_do_not_chain(text: str) -> None:
    err = syntax_error(text)
    assert err.help == "comparisons do not chain: write `a < b and b < c`"
    second = text.index(" ", text.index(" ", text.index(" ") + 1) + 1) + 1
    assert err.start == second  # at the second operator
    assert err.message == f"unexpected `{text[second:err.end]}`"


# --------------------------------------------------------------------------- literals

LITERALS: list[tuple[str, Any, str, str]] = [
    ("2024-02-29", dt.date(2024, 2, 29), "date", "2024-02-29"),
    ("0001-01-01", dt.date(1, 1, 1), "date", "0001-01-01"),
    ("2 years", Duration(months=24), "duration", "2 years"),
    ("1 year", Duration(months=12), "duration", "1 year"),
    ("12 months", Duration(months=12), "duration", "12 months"),
    ("1 month", Duration(months=1), "duration", "1 month"),
    ("120 days", Duration(days=120), "duration", "120 days"),
    ("1 day", Duration(days=1), "duration", "1 day"),
    ("3 weeks", Duration(days=21), "duration", "3 weeks"),
    ("1 week", Duration(days=7), "duration", "1 week"),
    ("15 Oct", MonthDay(10, 15), "month_day", "15 Oct"),
    ("29 Feb", MonthDay(2, 29), "month_day", "29 Feb"),
    ("1 Jan", MonthDay(1, 1), "month_day", "1 Jan"),
    ("31 Dec", MonthDay(12, 31), "month_day", "31 Dec"),
    ("1.3850", Decimal("1.3850"), "decimal", "1.3850"),
    ("0.005", Decimal("0.005"), "decimal", "0.005"),
    ("2.5%", Decimal("0.025"), "percent", "2.5%"),
    ("100%", Decimal("1"), "percent", "100%"),
    ("42", 42, "int", "42"),
    ("007", 7, "int", "007"),
    ('"text"', "text", "text", '"text"'),
    ("'text'", "text", "text", "'text'"),
    ('""', "", "text", '""'),
    ('"say \\"hi\\""', 'say "hi"', "text", '"say \\"hi\\""'),
    ("'it\\'s'", "it's", "text", "'it\\'s'"),
    ('"a\\nb\\tc"', "a\nb\tc", "text", '"a\\nb\\tc"'),
    ('"back\\\\slash"', "back\\slash", "text", '"back\\\\slash"'),
    ("'double \" inside'", 'double " inside', "text", "'double \" inside'"),
    ("true", True, "bool", "true"),
    ("false", False, "bool", "false"),
    ("null", None, "null", "null"),
]


@pytest.mark.parametrize(("text", "value", "kind", "raw"), LITERALS,
                         ids=[t for t, *_ in LITERALS])
def test_literal(text: str, value: Any, kind: str, raw: str) -> None:
    node = parse_expression(text)
    assert isinstance(node, A.Literal)
    assert (node.value, node.kind, node.text) == (value, kind, raw)
    assert type(node.value) is type(value)
    assert (node.start, node.end) == (0, len(text))
    assert parse_literal(text) == node


def test_duration_and_month_day_text_is_normalised() -> None:
    node = parse_expression("2   years")
    assert isinstance(node, A.Literal) and node.text == "2 years"
    node = parse_expression("05 Oct")
    assert isinstance(node, A.Literal) and node.text == "5 Oct" and node.value == MonthDay(10, 5)


def test_lists() -> None:
    assert parse_expression("[]") == A.ListLit(())
    assert parse_expression("[1, 2,]") == A.ListLit((Int(1), Int(2)))
    assert parse_expression("[[a], []]") == A.ListLit((A.ListLit((N("a"),)), A.ListLit(())))


def test_records() -> None:
    assert parse_expression("{}") == A.RecordLit(())
    assert parse_expression('{a: 1, b: "x",}') == A.RecordLit(
        (("a", Int(1)), ("b", A.Literal("x", "text", '"x"'))))
    assert parse_expression("{r: {s: a}}.r.s") == A.Attr(A.Attr(
        A.RecordLit((("r", A.RecordLit((("s", N("a")),))),)), "r"), "s")


def test_record_fields_must_be_unique() -> None:
    err = syntax_error("{a: 1, a: 2}")
    assert err.message == "field `a` is given twice"
    assert (err.start, err.end) == (7, 11)


def test_comprehensions() -> None:
    plain = A.Comprehension(A.Attr(N("e"), "date"), "e", N("events"), None)
    assert parse_expression("[e.date for e in events]") == A.ListLit((plain,))
    filtered = A.Comprehension(N("e"), "e", N("events"),
                               B("==", A.Attr(N("e"), "type"),
                                 A.Literal("fee", "text", '"fee"')))
    assert parse_expression('[e for e in events if e.type == "fee"]') == A.ListLit((filtered,))
    # a comprehension as the only argument of a call needs no brackets
    assert parse_expression("latest(e.date for e in events)") == A.Call("latest", (plain,))
    assert parse_expression("latest([e.date for e in events])") == A.Call(
        "latest", (A.ListLit((plain,)),))
    # the iterable and the condition are `or` tests: an `if` there needs brackets
    nested = parse_expression("[x for x in (if a then xs else ys) if x or y]")
    assert nested == A.ListLit((A.Comprehension(
        N("x"), "x", A.If(N("a"), N("xs"), N("ys")), B("or", N("x"), N("y"))),))


def test_calls() -> None:
    assert parse_expression("f()") == A.Call("f", ())
    assert parse_expression("max(a, b, c,)") == A.Call("max", (N("a"), N("b"), N("c")))
    call = parse_expression("window_for(d, t, e)")
    assert isinstance(call, A.Call) and (call.start, call.name_end, call.end) == (0, 10, 19)


def test_comments_and_whitespace_are_ignored() -> None:
    assert parse_expression("a +  # the rest\n  b") == B("+", N("a"), N("b"))
    assert parse_expression("\ta\r\n+\fb ") == B("+", N("a"), N("b"))


# --------------------------------------------------------------------------- invalid literals

INVALID = [
    ("2026-02-30", "`2026-02-30` is not a calendar date (day is out of range for month)",
     0, 10, "dates are YYYY-MM-DD"),
    ("2025-02-29", "`2025-02-29` is not a calendar date (day is out of range for month)",
     0, 10, "dates are YYYY-MM-DD"),
    ("2024-13-01", "`2024-13-01` is not a calendar date (month must be in 1..12)",
     0, 10, "dates are YYYY-MM-DD"),
    ("0000-01-01", "`0000-01-01` is not a calendar date (year 0 is out of range)",
     0, 10, "dates are YYYY-MM-DD"),
    ("31 Feb", "Feb has no day 31", 0, 6, "write a day such as `15 Oct`"),
    ("30 Feb", "Feb has no day 30", 0, 6, "write a day such as `15 Oct`"),
    ("31 Apr", "Apr has no day 31", 0, 6, "write a day such as `15 Oct`"),
    ("0 Jan", "Jan has no day 0", 0, 5, "write a day such as `15 Oct`"),
    ("x + 31 Feb", "Feb has no day 31", 4, 10, "write a day such as `15 Oct`"),
    ("200000 days", "duration `200000 days` is too long", 0, 11, None),
    ("1" * 31, "number is too long", 0, 31, None),
]


@pytest.mark.parametrize(("text", "message", "start", "end", "help"), INVALID,
                         ids=[t[:12] for t, *_ in INVALID])
def test_invalid_literal(text: str, message: str, start: int, end: int,
                         help: str | None) -> None:
    err = syntax_error(text)
    assert (err.message, err.start, err.end, err.help) == (message, start, end, help)


def test_fractional_duration_is_refused() -> None:
    err = syntax_error("1.5 years")
    assert err.message == "unexpected `years`"
    assert (err.start, err.end) == (4, 9)


def test_limits() -> None:
    err = syntax_error("a" * (MAX_EXPRESSION_LENGTH + 1))
    assert err.message.startswith(f"formula is {MAX_EXPRESSION_LENGTH + 1} characters long")
    err = syntax_error("(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1))
    assert (err.start, err.end) == (MAX_NESTING, MAX_NESTING + 1)
    nested = "(" * MAX_NESTING + "a" + ")" * MAX_NESTING
    assert parse_expression(nested) == N("a")
    # deep unary chains have no brackets to count: refused, not a RecursionError
    err = syntax_error("not " * 4000 + "a")
    assert err.message == "formula is nested too deeply"
    err = syntax_error("-" * 19000 + "1")
    assert err.message == "formula is nested too deeply"


# --------------------------------------------------------------------------- syntax errors

SYNTAX = [
    ("x = 1", "unexpected character `=`", 2, 3, "compare with `==`"),
    ("a && b", "unexpected character `&`", 2, 3, "use `and`, `or`, `not`"),
    ("a || b", "unexpected character `|`", 2, 3, "use `and`, `or`, `not`"),
    ("!a", "unexpected character `!`", 0, 1, "use `and`, `or`, `not`"),
    ("a $ b", "unexpected character `$`", 2, 3, None),
    ("1)", "unexpected `)`", 1, 2, "expected the end of the formula"),
    ("(1", "the formula ends too early", 2, 2, "expected `)`"),
    ("if a then b", "the formula ends too early", 11, 11, "expected `else`"),
    ("x not y", "unexpected `y`", 6, 7, "expected `in`"),
    ("a.1", "unexpected `1`", 2, 3, "expected a name"),
]


@pytest.mark.parametrize(("text", "message", "start", "end", "help"), SYNTAX,
                         ids=[t for t, *_ in SYNTAX])
def test_syntax_error(text: str, message: str, start: int, end: int, help: str | None) -> None:
    err = syntax_error(text)
    assert (err.message, err.start, err.end, err.help) == (message, start, end, help)


@pytest.mark.parametrize("text", ["", "   ", "# only a comment", "a +", "f(", "[1,"])
def test_formula_ends_too_early(text: str) -> None:
    err = syntax_error(text)
    assert err.message == "the formula ends too early"
    assert err.start == err.end == len(text)
    assert err.help is not None and err.help.startswith("expected ")


def test_parse_literal_refuses_formulas() -> None:
    assert parse_literal("-2 years") == U("-", A.Literal(Duration(months=24), "duration",
                                                         "2 years"))
    assert parse_literal("[1, 2]") == A.ListLit((Int(1), Int(2)))
    assert parse_literal("{a: 15 Oct}") == A.RecordLit(
        (("a", A.Literal(MonthDay(10, 15), "month_day", "15 Oct")),))
    for text in ("a", "1 + 2", "-x", "[a]", "{a: b}", "f(1)"):
        with pytest.raises(ExpressionSyntaxError) as info:
            parse_literal(text)
        assert info.value.message.startswith("a parameter value must be a literal")
        assert info.value.help == "move the computation into a definition"


# --------------------------------------------------------------------------- names

KEYWORD_PREFIXED = ["iffy", "notes", "order", "android", "years_total", "nullable",
                    "true_up", "falsehood", "thenceforth", "elsewhere", "format", "inx",
                    "for_each", "in_force", "days", "year", "Jan", "Octopus", "_private",
                    "x1"]


@pytest.mark.parametrize("name", KEYWORD_PREFIXED)
def test_names_that_begin_with_keywords_are_names(name: str) -> None:
    assert parse_expression(name) == N(name)
    assert parse_expression(f"{name} + 1") == B("+", N(name), Int(1))
    assert parse_expression(f"a.{name}") == A.Attr(N("a"), name)
    assert parse_expression(f"[{name} for {name} in xs if {name}]") == A.ListLit((
        A.Comprehension(N(name), name, N("xs"), N(name)),))
    assert parse_expression(f"{{{name}: 1}}") == A.RecordLit(((name, Int(1)),))


def test_keywords_inside_longer_expressions() -> None:
    assert parse_expression("iffy or notes and android") == B(
        "or", N("iffy"), B("and", N("notes"), N("android")))
    assert parse_expression("not notes") == U("not", N("notes"))
    assert parse_expression("order in orders") == B("in", N("order"), N("orders"))
    assert parse_expression("year(opened)") == A.Call("year", (N("opened"),))


# --------------------------------------------------------------------------- spans


def test_spans_are_offsets_into_the_text() -> None:
    text = "latest(e.date for e in events) ?? fail(\"none\")"
    node = parse_expression(text)
    assert isinstance(node, A.Binary)
    assert (node.start, node.end) == (0, len(text))
    left, right = node.left, node.right
    assert text[left.start:left.end] == "latest(e.date for e in events)"
    assert text[right.start:right.end] == 'fail("none")'
    assert isinstance(left, A.Call)
    comp = left.args[0]
    assert text[comp.start:comp.end] == "e.date for e in events"
    names = [n for n in A.walk(node) if isinstance(n, A.Name)]
    assert [(n.id, text[n.start:n.end]) for n in names] == [("e", "e"), ("events", "events")]


def test_span_of_a_parenthesised_expression() -> None:
    text = "(a + b) * c"
    node = parse_expression(text)
    assert isinstance(node, A.Binary) and isinstance(node.left, A.Binary)
    assert text[node.left.start:node.left.end] == "a + b"


# --------------------------------------------------------------------------- properties

NAMES = ["a", "b", "x", "iffy", "notes", "order", "android", "years_total", "days", "Jan",
         "e", "in_force", "then_", "elsewhere"]
LITERAL_TEXTS = [
    "0", "7", "2024-02-29", "2 years", "1 month", "120 days", "3 weeks", "15 Oct", "29 Feb",
    "1.3850", "2.5%", '"text"', "'text'", '"a\\"b\\n"', "'it\\'s'", "true", "false", "null",
]
BINARY_OPS = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "??", "+", "-",
              "*", "/"]

names = st.sampled_from(NAMES)
leaves = st.one_of(st.sampled_from(LITERAL_TEXTS).map(parse_expression), names.map(A.Name))


def _extend(children: st.SearchStrategy[A.Node]) -> st.SearchStrategy[A.Node]:
    comprehension = st.builds(A.Comprehension, children, names, children,
                              st.none() | children)
    return st.one_of(
        st.builds(A.Attr, children, names),
        st.builds(A.Unary, st.sampled_from(["-", "not"]), children),
        st.builds(A.Binary, st.sampled_from(BINARY_OPS), children, children),
        st.builds(A.If, children, children, children),
        st.builds(A.Call, names, st.lists(children, max_size=3).map(tuple)),
        st.builds(A.Call, names, comprehension.map(lambda c: (c,))),
        st.builds(A.ListLit, st.lists(children, max_size=3).map(tuple)),
        st.builds(A.ListLit, comprehension.map(lambda c: (c,))),
        st.builds(A.RecordLit, st.dictionaries(names, children, max_size=3)
                  .map(lambda d: tuple(d.items()))),
    )


trees = st.recursive(leaves, _extend, max_leaves=16)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_parse_unparse_round_trip(tree: A.Node) -> None:
    text = A.unparse(tree)
    assert parse_expression(text) == tree, text


TOKENS = ["a", "x", "iffy", "1", "0", "2024-02-29", "2026-02-30", "15", "31", "Oct", "Feb",
          "years", "days", "1.5", "2.5%", "%", '"t"', "'u'", '"', "'", "\\", "(", ")", "[",
          "]", "{", "}", ",", ".", ":", "+", "-", "*", "/", "??", "?", "==", "!=", "<",
          "<=", ">", ">=", "=", "!", "&", "|", "in", "not", "and", "or", "if", "then",
          "else", "for", "true", "false", "null", " ", "\n", "\t", "#", "é", "\x00", "f"]
token_text = st.lists(st.sampled_from(TOKENS), max_size=20)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(token_text.map(" ".join), token_text.map("".join), st.text(max_size=40)))
def test_random_text_parses_or_raises_a_syntax_error(text: str) -> None:
    try:
        tree = parse_expression(text)
    except ExpressionSyntaxError as err:
        assert 0 <= err.start <= err.end <= len(text)
        assert err.message
        return
    # what parses unparses to text that parses to the same tree, and the names it
    # contains are where the spans say
    assert parse_expression(A.unparse(tree)) == tree
    for node in A.walk(tree):
        assert 0 <= node.start <= node.end <= len(text)
        if isinstance(node, A.Name):
            assert text[node.start:node.end] == node.id
