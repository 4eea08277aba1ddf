"""Building one :class:`~evaluator.facts.model.Facts` from a parsed JSON profile or from
snapshot rows, by the validation policy of :mod:`evaluator.facts`: record errors in input
order, duplicate ids across the whole input, and every other record still loaded.

JSON profiles and snapshot rows stay one class: they share the duplicate-id bookkeeping,
the FX table and the error list."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import attrgetter

from evaluator.declared import FactsDecl
from evaluator.facts.csvtext import RaggedRow
from evaluator.facts.extra import ExtraFields
from evaluator.facts.fields import (
    CURRENCY_RE,
    DECIMAL_RE,
    BadField,
    FactsError,
    FieldChecker,
    iso_date,
    one_of,
    parse_amount,
    parse_claim_decision,
    parse_currency,
    parse_date,
    parse_event_type,
    parse_id,
    parse_kind,
    parse_notice_mark,
    parse_optional_date,
    parse_reconsideration_decision,
    parse_text,
)
from evaluator.facts.fx import FxTable
from evaluator.facts.model import (
    ACCOUNT_EVENT_TYPES,
    AMOUNT_EVENT_TYPES,
    WHOLE_RECORD,
    Account,
    Claim,
    Event,
    Extra,
    Facts,
    Member,
    RecordError,
)
from evaluator.text import describe_value, quote_value

#: event keys with a meaning of their own; any other key set to ``true`` on a transfer
#: is an attachment
_EVENT_KEYS = frozenset({"date", "type", "account_id", "amount", "mark"})
_UNUSABLE = "a bad event makes the whole member unusable"


@dataclass
class _SnapshotMember:
    member_id: str
    accounts: list[Account] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    member_level: set[tuple[str, date]] = field(default_factory=set)
    #: the member's declared fields (from its first row) and that row
    extra: Extra = ()
    first: str = ""

    def member_event(self, when: date, kind: str, shared: dict[tuple[str, date], Event]) -> None:
        """Add a member-level event once per date; ``shared`` reuses equal Event values."""
        key = (kind, when)
        if key not in self.member_level:
            self.member_level.add(key)
            event = shared.get(key)
            if event is None:
                event = shared[key] = Event(when, kind)
            self.events.append(event)


@dataclass
class _AccountEntry:
    """One account of a JSON member: its readable id, and the account or its error."""

    account_id: str | None
    account: Account | None
    error: RecordError | None


_by_date = attrgetter("date")


class FactsBuilder:
    """Builds one :class:`Facts`, accumulating record errors in input order."""

    def __init__(self, source: str, decl: FactsDecl | None = None) -> None:
        self.source = source
        #: the declared fields beyond the standard ones, and the unknown keys seen
        self.extra = ExtraFields(decl)
        self.parse_event_type = parse_event_type
        self.account_types: frozenset[str] = ACCOUNT_EVENT_TYPES
        if self.extra.active:
            types = self.extra.decl.event_types
            self.parse_event_type = one_of(tuple(types))
            self.account_types = ACCOUNT_EVENT_TYPES | {
                t.name for t in types.values() if t.account == "required"}
        self.members: list[Member] = []
        self.claims: list[Claim] = []
        self.errors: list[RecordError] = []
        self.fx = FxTable()
        self.account_seen: dict[str, str] = {}
        self.member_seen: dict[str, str] = {}
        self.claim_seen: dict[str, str] = {}
        self.member_events: dict[tuple[str, date], Event] = {}
        self.form = "profile"

    def facts(self) -> Facts:
        return Facts(
            members=tuple(self.members),
            claims=tuple(self.claims),
            fx_rates=dict(self.fx.rates),
            errors=tuple(self.errors),
            source=self.source,
            form=self.form,
            unknown=self.extra.unknown.report(),
            decl=self.extra.decl if self.extra.active else None,
        )

    def _duplicate_account(self, check: FieldChecker, account_id: str | None, where: str) -> None:
        if account_id is None:
            return
        first = self.account_seen.get(account_id)
        if first is None:
            self.account_seen[account_id] = where
        else:
            check.add("account_id", f"duplicate account id `{account_id}`, first seen at {first}")

    # ----------------------------------------------------------------- JSON form

    def json_document(self, obj: object) -> None:
        if not isinstance(obj, dict):
            raise FactsError(
                f"{self.source}: the top level must be an object, not {describe_value(obj)}"
            )
        for k, row in enumerate(self._json_list(obj, "fx_rates")):
            if not isinstance(row, dict):
                raise FactsError(
                    f"{self.source}: fx_rates[{k}] must be an object, not {describe_value(row)}"
                )
            self.fx.add_row(row, f"{self.source}: fx_rates[{k}]")
        if obj.get("members") is None:
            raise FactsError(f"{self.source}: the top-level `members` list is missing")
        for i, member in enumerate(self._json_list(obj, "members")):
            self._json_member(i, member)
        for k, claim in enumerate(self._json_list(obj, "claims")):
            self._json_claim(k, claim)

    def _json_list(self, obj: Mapping[str, object], key: str) -> list[object]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise FactsError(f"{self.source}: `{key}` must be a list, not {describe_value(value)}")
        return value

    def _json_member(self, i: int, raw: object) -> None:
        loc = f"members[{i}]"
        if not isinstance(raw, dict):
            self.errors.append(
                RecordError(
                    f"member must be an object, not {describe_value(raw)}",
                    field=WHOLE_RECORD,
                    location=loc,
                )
            )
            return
        # why the member as a whole cannot be used: (field, message, location)
        reason: tuple[str, str, str] | None = None
        member_id: str | None
        try:
            member_id = parse_id(raw.get("member_id"), "member_id")
        except BadField as bad:
            member_id = None
            reason = (bad.field, bad.message, loc)
        if member_id is not None:
            first = self.member_seen.get(member_id)
            if first is None:
                self.member_seen[member_id] = loc
            else:
                reason = (
                    "member_id",
                    f"duplicate member id `{member_id}`, first seen at {first}",
                    loc,
                )

        member_check = FieldChecker()
        member_extra = self.extra.read("member", raw, member_check)
        if member_check.problems and reason is None:
            reason = (member_check.field or WHOLE_RECORD, member_check.message, loc)

        raw_accounts, not_list = _member_list(raw, "accounts", loc)
        reason = reason or not_list
        entries = [
            self._json_account(account, f"{loc}.accounts[{j}]", member_id)
            for j, account in enumerate(raw_accounts)
        ]
        declared = {e.account_id for e in entries if e.account_id is not None}
        loaded = {e.account.account_id for e in entries if e.account is not None}

        raw_events, not_list = _member_list(raw, "events", loc)
        reason = reason or not_list
        events: list[Event] = []
        bad_events = 0
        for k, raw_event in enumerate(raw_events):
            event, problems = self._json_event(raw_event, declared, member_id)
            if event is None:
                bad_events += 1
                if reason is None:
                    text = "; ".join(p.message for p in problems)
                    reason = (problems[0].field, f"events[{k}]: {text}", f"{loc}.events[{k}]")
            elif (event.account_id is None or event.account_id in loaded
                  or event.type not in self.account_types):
                # member-level events count for the whole profile even when they name
                # an account that was rejected; account events go with their account
                events.append(event)
        if reason is not None and bad_events and reason[2] != loc:
            more = f" (and {bad_events - 1} more bad events)" if bad_events > 1 else ""
            reason = (reason[0], f"{reason[1]}{more}; {_UNUSABLE}", reason[2])

        if reason is not None:
            name, message, where = reason
            if not entries:
                self.errors.append(
                    RecordError(message, member_id, None, field=name, location=where)
                )
            for entry in entries:
                if entry.error is not None:
                    self.errors.append(entry.error)
                else:
                    self.errors.append(
                        RecordError(
                            message, member_id, entry.account_id, field=name, location=where
                        )
                    )
            return
        assert member_id is not None
        accounts: list[Account] = []
        for entry in entries:
            if entry.error is not None:
                self.errors.append(entry.error)
            elif entry.account is not None:
                accounts.append(entry.account)
        if not accounts:
            if not entries:
                self.errors.append(
                    RecordError(
                        "member has no accounts", member_id, None, field="accounts", location=loc
                    )
                )
            return
        events.sort(key=_by_date)
        self.members.append(Member(member_id, tuple(accounts), tuple(events), member_extra))

    def _json_account(self, raw: object, loc: str, member_id: str | None) -> _AccountEntry:
        if not isinstance(raw, dict):
            message = f"account must be an object, not {describe_value(raw)}"
            error = RecordError(message, member_id, field=WHOLE_RECORD, location=loc)
            return _AccountEntry(None, None, error)
        check = FieldChecker()
        account_id = check(parse_id, raw.get("account_id"), "account_id")
        self._duplicate_account(check, account_id, loc)
        currency = check(parse_currency, raw.get("currency"), "currency")
        balance = check(parse_amount, raw.get("balance"), "balance")
        opened = check(parse_date, raw.get("opened"), "opened")
        kind = check(parse_kind, raw.get("kind"), "kind")
        extra = self.extra.read("account", raw, check)
        if check.problems:
            error = RecordError(
                check.message, member_id, account_id, field=check.field, location=loc
            )
            return _AccountEntry(account_id, None, error)
        assert account_id is not None and currency is not None and balance is not None
        assert opened is not None and kind is not None
        account = Account(account_id, member_id or "", currency, balance, opened, kind, extra)
        return _AccountEntry(account_id, account, None)

    def event(self, raw: Mapping[str, object], accounts: set[str], member_id: str
              ) -> tuple[Event | None, list[BadField]]:
        """One event of member ``member_id`` (whose accounts are ``accounts``) read from its
        JSON-like fields, as a profile's event is read: the event, or its problems."""
        return self._json_event(raw, accounts, member_id)

    def _json_event(
        self, raw: object, declared: set[str], member_id: str | None
    ) -> tuple[Event | None, list[BadField]]:
        if not isinstance(raw, dict):
            return None, [
                BadField("events", f"an event must be an object, not {describe_value(raw)}")
            ]
        check = FieldChecker()
        when = check(parse_date, raw.get("date"), "date")
        kind = check(self.parse_event_type, raw.get("type"), "type")
        self.extra.count_unknown("event", raw)
        extra: Extra = ()
        account_id: str | None = None
        amount: Decimal | None = None
        mark: str | None = None
        attachments: tuple[str, ...] = ()
        if kind is not None:
            raw_account = raw.get("account_id")
            if kind in self.account_types or raw_account is not None:
                account_id = check(parse_id, raw_account, "account_id")
                if account_id is not None and account_id not in declared:
                    whose = f"member `{member_id}`" if member_id is not None else "the member"
                    check.add(
                        "account_id", f"account_id `{account_id}` is not an account of {whose}"
                    )
            if kind in AMOUNT_EVENT_TYPES:
                amount = check(parse_amount, raw.get("amount"), "amount")
            if kind == "notice":
                mark = check(parse_notice_mark, raw.get("mark"), "mark")
            if kind == "transfer":
                attachments = self._attachments(raw, check)
            extra = self.extra.event(kind, raw, check)
        if check.problems:
            return None, check.problems
        assert when is not None and kind is not None
        return Event(when, kind, account_id, mark, amount, attachments, extra), []

    @staticmethod
    def _attachments(raw: Mapping[str, object], check: FieldChecker) -> tuple[str, ...]:
        names = {key for key, value in raw.items() if value is True and key not in _EVENT_KEYS}
        for key in names:
            check(parse_text, key, "with")
        listed = raw.get("with")
        if listed is not None:
            if not isinstance(listed, list):
                check.add("with", f"with must be a list of strings, not {describe_value(listed)}")
            else:
                for item in listed:
                    if isinstance(item, str) and item.strip():
                        check(parse_text, item, "with")
                        names.add(item)
                    else:
                        check.add(
                            "with", f"with must list non-empty strings, not {describe_value(item)}"
                        )
        return tuple(sorted(names))

    def _json_claim(self, k: int, raw: object) -> None:
        loc = f"claims[{k}]"
        if not isinstance(raw, dict):
            self.errors.append(
                RecordError(
                    f"claim must be an object, not {describe_value(raw)}",
                    field=WHOLE_RECORD,
                    location=loc,
                    claim=True,
                )
            )
            return
        check = FieldChecker()
        claim_id = check(parse_id, raw.get("claim_id"), "claim_id")
        if claim_id is not None:
            first = self.claim_seen.get(claim_id)
            if first is None:
                self.claim_seen[claim_id] = loc
            else:
                check.add("claim_id", f"duplicate claim id `{claim_id}`, first seen at {first}")
        account_id = check(parse_id, raw.get("account_id"), "account_id")
        received = check(parse_date, raw.get("received"), "received")
        complete = check(parse_optional_date, raw.get("complete"), "complete")
        decision = check(parse_claim_decision, raw.get("decision"), "decision")
        decided = check(parse_optional_date, raw.get("decided"), "decided")
        re_received = check(
            parse_optional_date, raw.get("reconsideration_received"), "reconsideration_received"
        )
        re_complete = check(
            parse_optional_date, raw.get("reconsideration_complete"), "reconsideration_complete"
        )
        re_decision = check(
            parse_reconsideration_decision,
            raw.get("reconsideration_decision"),
            "reconsideration_decision",
        )
        re_decided = check(
            parse_optional_date, raw.get("reconsideration_decided"), "reconsideration_decided"
        )
        extra = self.extra.read("claim", raw, check)
        if check.problems:
            self.errors.append(
                RecordError(
                    check.message,
                    account_id=account_id,
                    claim_id=claim_id,
                    field=check.field,
                    location=loc,
                    claim=True,
                )
            )
            return
        assert claim_id is not None and account_id is not None and received is not None
        self.claims.append(
            Claim(
                claim_id=claim_id,
                account_id=account_id,
                received=received,
                complete=complete,
                decision=decision,
                decided=decided,
                reconsideration_received=re_received,
                reconsideration_complete=re_complete,
                reconsideration_decision=re_decision,
                reconsideration_decided=re_decided,
                extra=extra,
            )
        )

    # ----------------------------------------------------------------- snapshot form

    def snapshot(self, rows: Iterable[tuple[int, Sequence[str | None] | RaggedRow]]) -> None:
        """Load snapshot rows given as (line, cells in ``SNAPSHOT_CELLS`` order); a
        :class:`RaggedRow` is a record error (its ids are not registered as seen)."""
        groups: dict[str, _SnapshotMember] = {}
        for line, cells in rows:
            if isinstance(cells, RaggedRow):
                self.errors.append(cells.error())
            elif self.extra.active or not self._snapshot_row_fast(line, cells, groups):
                self.snapshot_row(line, cells, groups)
        absent = self.extra.absent_event_fields()
        for group in groups.values():
            if absent:  # a table's events carry no declared event field: its default
                group.events = [dataclasses.replace(e, extra=absent) for e in group.events]
            group.events.sort(key=_by_date)
            self.members.append(Member(group.member_id, tuple(group.accounts), tuple(group.events),
                                       group.extra))

    def _snapshot_row_fast(
        self, line: int, cells: Sequence[str | None], groups: dict[str, _SnapshotMember]
    ) -> bool:
        """Load a well-formed row quickly; False, having changed nothing, for any doubt.

        Must accept exactly what :meth:`snapshot_row` accepts, with the same result.
        """
        (
            raw_member,
            raw_account,
            raw_currency,
            raw_balance,
            raw_opened,
            raw_tx,
            raw_ack,
            raw_resp,
            raw_kind,
        ) = cells
        if None in (
            raw_member,
            raw_account,
            raw_currency,
            raw_balance,
            raw_opened,
            raw_tx,
            raw_ack,
            raw_resp,
        ):
            return False
        assert raw_member is not None and raw_account is not None and raw_currency is not None
        assert raw_balance is not None and raw_opened is not None and raw_tx is not None
        assert raw_ack is not None and raw_resp is not None
        member_id = raw_member.strip()
        account_id = raw_account.strip()
        currency = raw_currency.strip()
        balance = raw_balance.strip()
        opened = iso_date(raw_opened.strip())
        tx_text = raw_tx.strip()
        ack_text = raw_ack.strip()
        resp_text = raw_resp.strip()
        kind = raw_kind.strip() if raw_kind is not None else ""
        if (
            not member_id
            or not account_id
            or account_id in self.account_seen
            or opened is None
            or CURRENCY_RE.fullmatch(currency) is None
            or DECIMAL_RE.fullmatch(balance) is None
            or balance[0] == "-"
        ):
            return False
        last_tx = iso_date(tx_text) if tx_text else None
        last_ack = iso_date(ack_text) if ack_text else None
        last_resp = iso_date(resp_text) if resp_text else None
        if (
            (tx_text and last_tx is None)
            or (ack_text and last_ack is None)
            or (resp_text and last_resp is None)
        ):
            return False
        self.account_seen[account_id] = f"row {line}"
        self._snapshot_add(
            groups,
            Account(account_id, member_id, currency, Decimal(balance), opened, kind or "deposit"),
            last_tx,
            last_ack,
            last_resp,
        )
        return True

    def snapshot_row(
        self, line: int, raw: Sequence[str | None], groups: dict[str, _SnapshotMember]
    ) -> None:
        cells = [(value.strip() or None) if value is not None else None for value in raw]
        loc = f"row {line}"
        check = FieldChecker()
        member_id = check(parse_text, cells[0], "member_id")
        account_id = check(parse_text, cells[1], "account_id")
        self._duplicate_account(check, account_id, loc)
        currency = check(parse_currency, cells[2], "currency")
        balance = check(parse_amount, cells[3], "balance")
        opened = check(parse_date, cells[4], "opened")
        last_tx = check(parse_optional_date, cells[5], "last_transaction")
        last_ack = check(parse_optional_date, cells[6], "last_statement_ack")
        last_resp = check(parse_optional_date, cells[7], "last_response")
        kind = check(parse_kind, cells[8], "kind")
        account_extra: Extra = ()
        member_extra: Extra = ()
        latest: list[tuple[str, str, date]] = []
        if self.extra.active:
            account_extra, member_extra, latest = self.extra.row(cells[9:], check)
            group = groups.get(member_id or "")
            if not check.problems and group is not None and group.extra != member_extra:
                self._disagree(check, member_id, group, member_extra)
        if check.problems:
            self.errors.append(
                RecordError(check.message, member_id, account_id, field=check.field, location=loc)
            )
            return
        assert member_id is not None and account_id is not None and currency is not None
        assert balance is not None and opened is not None and kind is not None
        account = Account(account_id, member_id, currency, balance, opened, kind, account_extra)
        self._snapshot_add(groups, account, last_tx, last_ack, last_resp)
        if self.extra.active:
            group = groups[member_id]
            if not group.first:
                group.extra, group.first = member_extra, loc
            for kind_, on, day in latest:
                if on == "account":
                    group.events.append(Event(day, kind_, account_id))
                else:
                    group.member_event(day, kind_, self.member_events)

    def _disagree(self, check: FieldChecker, member_id: str | None, group: _SnapshotMember,
                  member_extra: Extra) -> None:
        """A member-level column whose value differs from the member's first row."""
        columns = {c.field: c.name for c in self.extra.columns() if c.entity == "member"}
        for (name, value), (_, before) in zip(member_extra, group.extra, strict=True):
            if value != before:
                column = columns.get(name, name)
                shown = quote_value(value) if value is not None else "empty"
                was = quote_value(before) if before is not None else "empty"
                check.add(column, f"member `{member_id}`: column {column} is {shown} here but "
                          f"{was} on {group.first}; a member-level column must agree across "
                          "the member's rows")

    def _snapshot_add(
        self,
        groups: dict[str, _SnapshotMember],
        account: Account,
        last_tx: date | None,
        last_ack: date | None,
        last_resp: date | None,
    ) -> None:
        group = groups.get(account.member_id)
        if group is None:
            group = groups[account.member_id] = _SnapshotMember(account.member_id)
        group.accounts.append(account)
        if last_tx is not None:
            group.events.append(Event(last_tx, "transaction", account.account_id))
        if last_ack is not None:
            group.member_event(last_ack, "statement_ack", self.member_events)
        if last_resp is not None:
            group.member_event(last_resp, "response", self.member_events)


def _member_list(raw: Mapping[str, object], key: str, loc: str
                 ) -> tuple[list[object], tuple[str, str, str] | None]:
    """A member's ``accounts`` or ``events`` (absent: none), and why the member cannot be
    used when it is not a list (field, message, location)."""
    value = raw.get(key)
    if value is None:
        return [], None
    if not isinstance(value, list):
        return [], (key, f"{key} must be a list, not {describe_value(value)}", loc)
    return value, None
