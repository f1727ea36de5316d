"""The audit trail of bookings: ``payoutengine sync report``.

Source of truth: the engine journal in payer sync's state database (``[state] url``). Every
booking transaction payer sync signs is journaled before it is sent, with what it books: per
recipient the booked total read from the chain when the sync planned it (*before*) and the new
total the transaction sets (*after*), in smallest units of the schedule's token. The tracker
then follows it: ``irreversible`` means the chain holds it for good; ``sent``/``included`` means
it landed or may still land and is being followed. Transactions that did not book anything
(refused, expired in no block, or refused as already booked) are left out: what was booked
instead is in another transaction of the list. A recipient's *balance* here is its lifetime
booked total on chain (what the schedule owes it in all, paid or not); the chain itself stays
the truth (``payoutengine status``), the journal says which transaction raised it when.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from payoutengine.amounts import Symbol, format_amount
from payoutengine.errors import AmountError
from payoutengine.journal import INCLUDED, IRREVERSIBLE, SENT, SIGNED, Journal, JournalTx

from .engine import BOOKING_KIND

__all__ = ["BookingLine", "booking_lines", "render_csv", "render_json", "render_table"]

#: statuses of a booking that raised (or may still raise) totals on chain
LANDED = (SIGNED, SENT, INCLUDED, IRREVERSIBLE)


@dataclass(frozen=True, slots=True)
class BookingLine:
    """One recipient's total raised by one booking transaction."""

    at: dt.datetime
    tx_id: str
    status: str
    recipient: str
    before: int
    after: int
    symbol: Symbol | None

    def amount(self, units: int) -> str:
        if self.symbol is None:
            return str(units)
        return f"{format_amount(units, self.symbol.precision)} {self.symbol.code}"


def booking_lines(journal: Journal, *, recipient: str | None = None) -> list[BookingLine]:
    """Every recipient line of every landed booking, oldest first. Bookings journaled by a
    version without the totals are listed with their recipients only (before = after = -1)."""
    out: list[BookingLine] = []
    with journal.session() as s:
        rows: Sequence[JournalTx] = s.scalars(
            select(JournalTx)
            .where(JournalTx.kind == BOOKING_KIND, JournalTx.status.in_(LANDED))
            .order_by(JournalTx.created_at, JournalTx.id)
        ).all()
        for row in rows:
            data = json.loads(row.data)
            symbol = None
            try:
                symbol = Symbol.parse(data["symbol"]) if "symbol" in data else None
            except AmountError:
                symbol = None
            totals = data.get("totals") or [[n, -1, -1] for n in data.get("recipients", [])]
            for name, before, after in totals:
                if recipient is not None and name != recipient:
                    continue
                out.append(
                    BookingLine(row.created_at, row.tx_id, row.status, name, before, after, symbol)
                )
    return out


def _record(line: BookingLine) -> dict[str, object]:
    return {
        "time": line.at.replace(microsecond=0).isoformat() + "Z",
        "recipient": line.recipient,
        "before_units": line.before,
        "after_units": line.after,
        "booked_units": line.after - line.before,
        "before": line.amount(line.before),
        "after": line.amount(line.after),
        "tx_id": line.tx_id,
        "status": line.status,
    }


def render_json(lines: Sequence[BookingLine]) -> str:
    return json.dumps([_record(x) for x in lines], indent=2)


def render_csv(lines: Sequence[BookingLine]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(_FIELDS), lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow(_record(line))
    return buf.getvalue()


_FIELDS = (
    "time",
    "recipient",
    "before_units",
    "after_units",
    "booked_units",
    "before",
    "after",
    "tx_id",
    "status",
)


def render_table(lines: Sequence[BookingLine]) -> object:
    from rich.table import Table

    table = Table(title=f"bookings ({len(lines)} lines)")
    for col, justify in (
        ("time (UTC)", "left"),
        ("recipient", "left"),
        ("before", "right"),
        ("after", "right"),
        ("transaction", "left"),
        ("status", "left"),
    ):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for x in lines:
        table.add_row(
            x.at.replace(microsecond=0).isoformat(sep=" "),
            x.recipient,
            x.amount(x.before),
            x.amount(x.after),
            x.tx_id,
            x.status,
        )
    return table
