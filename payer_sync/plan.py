"""The pure part of a sync: compare, allocate free funds, cut into batches.

Nothing here talks to a database or a chain; :mod:`payer_sync.engine` feeds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace

from payoutengine.chaintime import utcnow

__all__ = [
    "Discrepancy",
    "Increase",
    "Piece",
    "SourceTotal",
    "allocate",
    "diff",
    "diff_stream",
    "make_batches",
]


@dataclass(frozen=True, slots=True)
class SourceTotal:
    """What the payer's database says a recipient is owed in total (smallest units)."""

    recipient: str
    total: int
    memo: str = ""


@dataclass(frozen=True, slots=True)
class Increase:
    """Raise ``recipient``'s on-chain total from ``booked`` to ``new_total``."""

    recipient: str
    booked: int
    new_total: int
    memo: str = ""
    #: no row in the schedule's ``recipients`` table yet: the recipient may also lack a balance
    #: row in the token contract, so its batch opens one (paid by the payer)
    new_recipient: bool = False

    @property
    def amount(self) -> int:
        return self.new_total - self.booked


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """The database total is below what is already booked on chain. Never "fixed": totals on
    chain only grow, so this is reported for a human to look at."""

    recipient: str
    db_total: int
    booked_total: int


@dataclass(frozen=True, slots=True)
class Piece:
    """Part of an unbooked increase with the time it became due (oldest dues are booked
    first when free funds do not cover everything)."""

    recipient: str
    at: dt.datetime
    amount: int


def diff(
    totals: Mapping[str, SourceTotal],
    booked: Mapping[str, int],
    *,
    recipients: Iterable[str] | None = None,
) -> tuple[list[Increase], list[Discrepancy]]:
    """Compare exactly. ``booked`` holds the on-chain ``booked_total`` of every recipient that
    has a row (absent = no row). ``recipients`` limits the comparison (incremental sync);
    by default every name in either mapping is compared. Results are sorted by name."""
    names = set(totals) | set(booked) if recipients is None else set(recipients)
    increases: list[Increase] = []
    discrepancies: list[Discrepancy] = []
    for name in sorted(names):
        src = totals.get(name)
        db_total = src.total if src is not None else 0
        on_chain = booked.get(name)
        chain_total = on_chain if on_chain is not None else 0
        if db_total > chain_total:
            increases.append(
                Increase(
                    recipient=name,
                    booked=chain_total,
                    new_total=db_total,
                    memo=src.memo if src is not None else "",
                    new_recipient=on_chain is None,
                )
            )
        elif db_total < chain_total:
            discrepancies.append(Discrepancy(name, db_total, chain_total))
    return increases, discrepancies


def diff_stream(
    totals: MutableMapping[str, SourceTotal],
    booked: Iterable[tuple[str, int]],
    *,
    exclude: Iterable[str] = (),
) -> tuple[list[Increase], list[Discrepancy], int]:
    """:func:`diff` of every name in ``totals`` or ``booked``, reading ``booked`` (the
    chain's ``(account, booked_total)`` rows) once as it comes, without holding it: the full
    comparison of a million recipients holds the database's totals and the results only.
    ``totals`` is emptied as it goes; names in ``exclude`` are not compared. Returns the
    increases and discrepancies sorted by name, and the number of names compared."""
    skip = set(exclude)
    increases: list[Increase] = []
    discrepancies: list[Discrepancy] = []
    compared = 0
    for name, chain_total in booked:
        src = totals.pop(name, None)
        if name in skip:
            continue
        compared += 1
        db_total = src.total if src is not None else 0
        if db_total > chain_total:
            memo = src.memo if src is not None else ""
            increases.append(Increase(name, chain_total, db_total, memo))
        elif db_total < chain_total:
            discrepancies.append(Discrepancy(name, db_total, chain_total))
    while totals:  # no row on chain
        name, src = totals.popitem()
        if name in skip:
            continue
        compared += 1
        if src.total > 0:
            increases.append(Increase(name, 0, src.total, src.memo, new_recipient=True))
    increases.sort(key=lambda i: i.recipient)
    discrepancies.sort(key=lambda d: d.recipient)
    return increases, discrepancies, compared


def allocate(
    increases: Sequence[Increase], pieces: Iterable[Piece], free: int
) -> tuple[list[Increase], int]:
    """Fit the increases into ``free`` funds, oldest dues first.

    Returns the increases to book (some possibly reduced, none empty) and the shortfall (what
    is still needed to book everything; 0 when everything fits). ``pieces`` splits each
    increase by the time its parts became due; a recipient whose pieces do not add up to its
    increase is treated as one piece due at its earliest piece's time (or now).
    """
    need = sum(i.amount for i in increases)
    if need <= free:
        return list(increases), 0
    by_name = {i.recipient: i for i in increases}
    grouped: dict[str, list[Piece]] = {}
    for p in pieces:
        if p.recipient in by_name and p.amount > 0:
            grouped.setdefault(p.recipient, []).append(p)
    now = utcnow()
    ordered: list[Piece] = []
    for name, inc in by_name.items():
        ps = grouped.get(name, [])
        if sum(p.amount for p in ps) != inc.amount:
            at = min((p.at for p in ps), default=now)
            ps = [Piece(name, at, inc.amount)]
        ordered.extend(ps)
    ordered.sort(key=lambda p: (p.at, p.recipient))
    granted: dict[str, int] = {}
    left = max(free, 0)
    for p in ordered:
        if left == 0:
            break
        take = min(p.amount, left)
        granted[p.recipient] = granted.get(p.recipient, 0) + take
        left -= take
    chosen = [
        replace(i, new_total=i.booked + granted[i.recipient])
        for i in increases
        if granted.get(i.recipient, 0) > 0
    ]
    return chosen, need - max(free, 0)


def make_batches(increases: Sequence[Increase], records_per_tx: int) -> list[list[Increase]]:
    """Cut into batches of at most ``records_per_tx`` records (one transaction each)."""
    if records_per_tx < 1:
        raise ValueError("records_per_tx must be at least 1")
    return [
        list(increases[i : i + records_per_tx]) for i in range(0, len(increases), records_per_tx)
    ]
