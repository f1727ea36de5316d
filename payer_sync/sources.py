"""Where totals come from.

- :class:`LedgerSource` — our own ledger (:class:`~payer_sync.models.Credit`, one row per
  credit). A recipient's total is the sum of its credits; its memo is the newest non-empty
  credit memo. Incremental: the ledger id is the watermark, with the ids still missing below
  it (rows a concurrent writer commits late) checked again. Oldest dues first: the credits
  themselves say when each part of an increase became due.
- :class:`QuerySource` — a payer's existing database: a configured query returning
  ``(recipient, total[, memo])``, one row per recipient. Totals are converted exactly by
  :func:`payer_sync.values.total_to_units`; a bad row is rejected, the rest go through.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy import Engine, and_, false, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from payoutengine.errors import ConfigError

from .config import MAX_MEMO_BYTES
from .models import Credit
from .plan import Piece, SourceTotal
from .values import RowRejected, total_to_units

__all__ = ["LedgerSource", "QuerySource", "RejectedRow", "Source", "SourceScan"]

#: bound parameters per IN (...) list: well below SQLite's and PostgreSQL's limits
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A source row that cannot be booked; ``row`` is its text as read."""

    recipient: str
    row: str
    reason: str


@dataclass(slots=True)
class SourceScan:
    totals: dict[str, SourceTotal] = field(default_factory=dict)
    rejected: list[RejectedRow] = field(default_factory=list)
    #: the source position this scan covers (ledger: the highest credit id), if it has one
    watermark: str | None = None
    #: recipient -> what it is owed below one smallest token unit, in the source's own units
    #: (a pool's remainder after the exact conversion): not booked yet, still owed
    carried: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        name: str,
        row_text: str,
        total: object,
        memo: object,
        *,
        precision: int,
        unit: Literal["smallest", "token"],
    ) -> None:
        """Count ``name``'s total, or reject its row (``row_text``) saying why it cannot be
        booked."""
        try:
            units = total_to_units(total, precision, unit)
        except RowRejected as exc:
            self.rejected.append(RejectedRow(name, row_text, exc.reason))
            return
        if not isinstance(memo, str):
            self.rejected.append(RejectedRow(name, row_text, "the memo is not text"))
            return
        problem = _memo_problem(memo)
        if problem:
            self.rejected.append(RejectedRow(name, row_text, problem))
            return
        self.totals[name] = SourceTotal(name, units, memo)


class Source(Protocol):
    #: True when :meth:`changed_since` can list changed recipients cheaply
    incremental: bool

    def scan(self, precision: int, *, recipients: Collection[str] | None = None) -> SourceScan:
        """Totals of every recipient, or of ``recipients`` only."""
        ...

    def changed_since(self, watermark: str | None) -> tuple[set[str], str | None]:
        """Recipients with credits after ``watermark``, and the new watermark."""
        ...

    def pieces(self, booked: Mapping[str, int], *, watermark: str | None = None) -> list[Piece]:
        """The unbooked parts of the given recipients' totals, with their due times."""
        ...


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _db_error(engine: Engine, exc: SQLAlchemyError) -> ConfigError:
    first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return ConfigError(
        f"The source database {engine.url.render_as_string(hide_password=True)} failed: "
        f"{first}. Check [source] url (and query) in the config."
    )


def _memo_problem(memo: str) -> str | None:
    size = len(memo.encode())
    if size > MAX_MEMO_BYTES:
        return f"the memo is {size} bytes long, at most {MAX_MEMO_BYTES} are allowed"
    return None


#: a credit is split at this power of two for summing (see _exact_sum)
_SPLIT = 1 << 31


def _exact_sum(amount: Any) -> tuple[Any, Any]:
    """``SUM(amount)`` as two sums that cannot overflow a 64-bit integer: of the low parts
    (``amount % 2^31``, with the sign of the amount on SQLite, PostgreSQL and MariaDB alike)
    and of the high parts (``(amount - low) / 2^31``, an exact division, so it does not matter
    that MariaDB floors where the others truncate), which add up exactly to each amount; no
    float is involved. SQLite's own SUM fails with "integer overflow" beyond 2^63 - 1; this way
    such a total reaches :func:`~payer_sync.values.total_to_units`, which rejects that one
    recipient."""
    low = amount % _SPLIT
    return func.sum((amount - low) // _SPLIT), func.sum(low)


def _summed(row: Any) -> tuple[str, int]:
    name, high, low = row
    return str(name), int(high) * _SPLIT + int(low)


#: ids below the newest one that are checked for rows committed late (see LedgerSource._watermark)
GAP_WINDOW = 10_000
#: at most this many such ids are carried from one sync to the next
MAX_GAPS = 1_000


def format_watermark(top: int, gaps: Sequence[int] = ()) -> str:
    """``"<top>"`` or ``"<top>:<gap>,<gap>,..."``."""
    return f"{top}:{','.join(map(str, gaps))}" if gaps else str(top)


def parse_watermark(text: str | None) -> tuple[int, list[int]]:
    if not text:
        return 0, []
    top, _, gaps = text.partition(":")
    return int(top), [int(g) for g in gaps.split(",") if g]


class LedgerSource:
    """Totals from our own ledger table ``payer_credits``."""

    incremental = True

    def __init__(self, engine: Engine, *, default_memo: str = "") -> None:
        self.engine = engine
        self.default_memo = default_memo

    def _max_id(self, conn) -> int:  # type: ignore[no-untyped-def]
        return int(conn.execute(select(func.coalesce(func.max(Credit.id), 0))).scalar_one())

    def _watermark(self, conn, top: int, old_gaps: Collection[int] = ()) -> str:  # type: ignore[no-untyped-def]
        """``top``, plus the ids at or below it that no row has *yet*: with concurrent writers
        an id is taken when a row is inserted but seen only when its transaction commits, so a
        credit can appear below a watermark already passed. Those ids are checked again by the
        next incremental sync (:meth:`changed_since`). Read this before the totals: a row that
        commits in between is then both a gap and counted (harmless), never neither."""
        low = max(0, top - GAP_WINDOW)
        present = set(
            conn.execute(select(Credit.id).where(Credit.id > low, Credit.id <= top)).scalars()
        )
        gaps = {i for i in range(low + 1, top + 1) if i not in present}
        gaps |= {g for g in old_gaps if g > low and g not in present}
        return format_watermark(top, sorted(gaps)[-MAX_GAPS:])

    def scan(self, precision: int, *, recipients: Collection[str] | None = None) -> SourceScan:
        result = SourceScan()
        try:
            with self.engine.connect() as conn:
                top = self._max_id(conn)
                result.watermark = self._watermark(conn, top)
                sums = select(Credit.recipient, *_exact_sum(Credit.amount)).where(Credit.id <= top)
                memo_ids = (
                    select(func.max(Credit.id))
                    .where(Credit.id <= top, Credit.memo.is_not(None), Credit.memo != "")
                    .group_by(Credit.recipient)
                )
                rows: list[tuple[str, int]] = []
                memos: dict[str, str] = {}
                if recipients is None:
                    rows = [_summed(r) for r in conn.execute(sums.group_by(Credit.recipient))]
                    for name, memo in conn.execute(
                        select(Credit.recipient, Credit.memo).where(Credit.id.in_(memo_ids))
                    ):
                        memos[name] = memo or ""
                else:
                    for part in _chunks(sorted(recipients)):
                        rows.extend(
                            _summed(r)
                            for r in conn.execute(
                                sums.where(Credit.recipient.in_(part)).group_by(Credit.recipient)
                            )
                        )
                        for name, memo in conn.execute(
                            select(Credit.recipient, Credit.memo).where(
                                Credit.id.in_(memo_ids.where(Credit.recipient.in_(part)))
                            )
                        ):
                            memos[name] = memo or ""
        except SQLAlchemyError as exc:
            raise _db_error(self.engine, exc) from None
        for name, total in rows:
            row_text = f"recipient {name!r}: sum of credits {total}"
            memo = memos.get(name, self.default_memo)
            result.add(name, row_text, total, memo, precision=precision, unit="smallest")
        return result

    def changed_since(self, watermark: str | None) -> tuple[set[str], str | None]:
        """Recipients with credits above the watermark, and with credits that filled one of
        its gaps (rows committed late, below ids already seen)."""
        since, gaps = parse_watermark(watermark)
        try:
            with self.engine.connect() as conn:
                top = self._max_id(conn)
                new_mark = self._watermark(conn, top, gaps)
                changed = or_(
                    and_(Credit.id > since, Credit.id <= top),
                    Credit.id.in_(gaps) if gaps else false(),
                )
                names = set(
                    conn.execute(select(Credit.recipient).where(changed).distinct()).scalars()
                )
        except SQLAlchemyError as exc:
            raise _db_error(self.engine, exc) from None
        return names, new_mark

    def pieces(self, booked: Mapping[str, int], *, watermark: str | None = None) -> list[Piece]:
        """Walk each recipient's credits in id order; the first ``booked`` units are already
        on chain, the rest are pieces due at their credit's time."""
        out: list[Piece] = []
        try:
            with self.engine.connect() as conn:
                for part in _chunks(sorted(booked)):
                    q = (
                        select(Credit.recipient, Credit.amount, Credit.created_at)
                        .where(Credit.recipient.in_(part))
                        .order_by(Credit.recipient, Credit.id)
                    )
                    if watermark:
                        q = q.where(Credit.id <= parse_watermark(watermark)[0])
                    covered: dict[str, int] = {}
                    for name, amount, at in conn.execute(q):
                        already = covered.get(name, booked[name])
                        amount = int(amount)
                        if amount <= already:
                            covered[name] = already - amount
                            continue
                        covered[name] = 0
                        out.append(Piece(name, at, amount - already))
        except SQLAlchemyError as exc:
            raise _db_error(self.engine, exc) from None
        return out


class QuerySource:
    """Totals from a configured query returning ``(recipient, total[, memo])``."""

    incremental = False

    def __init__(
        self,
        engine: Engine,
        query: str,
        *,
        total_unit: Literal["smallest", "token"] = "smallest",
        default_memo: str = "",
    ) -> None:
        self.engine = engine
        self.query = query
        self.total_unit: Literal["smallest", "token"] = total_unit
        self.default_memo = default_memo

    def scan(self, precision: int, *, recipients: Collection[str] | None = None) -> SourceScan:
        result = SourceScan()
        try:
            with self.engine.connect() as conn:
                raw = [tuple(r) for r in conn.execute(text(self.query))]
        except SQLAlchemyError as exc:
            raise _db_error(self.engine, exc) from None
        wanted = None if recipients is None else set(recipients)
        seen: dict[object, int] = {}
        for row in raw:
            if row:
                seen[row[0]] = seen.get(row[0], 0) + 1
        for row in raw:
            row_text = repr(row)
            if len(row) not in (2, 3):
                result.rejected.append(
                    RejectedRow(
                        str(row[0]) if row else "",
                        row_text,
                        f"the query returned {len(row)} columns, expected recipient, total "
                        f"and optionally memo",
                    )
                )
                continue
            name = row[0]
            if not isinstance(name, str):
                result.rejected.append(
                    RejectedRow(str(name), row_text, "the recipient is not text")
                )
                continue
            if wanted is not None and name not in wanted:
                continue
            if seen[name] > 1:
                result.rejected.append(
                    RejectedRow(
                        name,
                        row_text,
                        f"the recipient appears in {seen[name]} rows; the query must return "
                        f"one row per recipient",
                    )
                )
                continue
            memo = row[2] if len(row) == 3 and row[2] is not None else self.default_memo
            result.add(name, row_text, row[1], memo, precision=precision, unit=self.total_unit)
        return result

    def changed_since(self, watermark: str | None) -> tuple[set[str], str | None]:
        raise NotImplementedError("a query source has no watermark; use full scans")

    def pieces(self, booked: Mapping[str, int], *, watermark: str | None = None) -> list[Piece]:
        # no per-credit times: the engine uses the time it first saw each increase
        return []
