"""The outcome of one sync, and its rendering as a summary table."""

from __future__ import annotations

from dataclasses import dataclass, field

from payoutengine.amounts import Symbol, format_amount
from payoutengine.chaintime import utcnow

from .plan import Discrepancy, Increase
from .sources import RejectedRow

__all__ = ["Failure", "SyncReport"]


@dataclass(frozen=True, slots=True)
class Failure:
    """Recipients whose booking the chain refused (after isolating them), with its reason."""

    recipients: tuple[str, ...]
    message: str


@dataclass
class SyncReport:
    mode: str = "full"
    dry_run: bool = False
    symbol: Symbol | None = None
    #: recipients compared with the chain
    compared: int = 0
    #: increases executed on chain by this sync (or that would be, in a dry run)
    booked: list[Increase] = field(default_factory=list)
    #: increases found already on chain when sent (a re-sent batch that had landed)
    already: list[Increase] = field(default_factory=list)
    #: journaled transactions from an interrupted run: (landed now, had landed before, dropped)
    recovered_sent: int = 0
    recovered_already: int = 0
    recovered_dropped: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    #: recipient -> why it was skipped (malformed name, nonexistent account)
    invalid: dict[str, str] = field(default_factory=dict)
    rejected: list[RejectedRow] = field(default_factory=list)
    #: recipient -> remainder below one token unit, in source units (still owed; see
    #: payer_sync.redis_source)
    carried: dict[str, int] = field(default_factory=dict)
    #: free funds before booking, what every increase needed, and what was missing
    free_funds: int = 0
    needed: int = 0
    shortfall: int = 0
    #: increases (or their rest) left unbooked for lack of funds
    unfunded: list[Increase] = field(default_factory=list)
    topup: int = 0
    topup_error: str | None = None
    failures: list[Failure] = field(default_factory=list)
    #: transactions not seen irreversible within the confirmation timeout (kept journaled)
    unconfirmed: int = 0
    transactions: int = 0
    rpc_calls: int = 0
    rpc_bytes: int = 0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """False when anything needs a human: the exit code of ``sync once``."""
        return not (
            self.discrepancies
            or self.invalid
            or self.rejected
            or self.shortfall
            or self.failures
            or self.topup_error
        )

    def summary(self, schedule: str) -> dict[str, object]:
        """The report in a few JSON-ready figures (amounts exact, in token units)."""
        return {
            "schedule": schedule,
            "finished_at": utcnow().isoformat(timespec="seconds") + "Z",
            "mode": self.mode,
            "ok": self.ok,
            "compared": self.compared,
            "booked": len(self.booked),
            "booked_amount": self.amount(self.booked_amount),
            "already": len(self.already),
            "transactions": self.transactions,
            "unconfirmed": self.unconfirmed,
            "discrepancies": len(self.discrepancies),
            "invalid_names": len(self.invalid),
            "rejected_rows": len(self.rejected),
            "shortfall": self.amount(self.shortfall),
            "failed_bookings": sum(len(f.recipients) for f in self.failures),
            "problems": [" — ".join(p for p in row if p) for row in self.problems()[:20]],
            "elapsed_s": round(self.elapsed_s, 2),
        }

    def amount(self, value: int) -> str:
        if self.symbol is None:
            return str(value)
        return f"{format_amount(value, self.symbol.precision)} {self.symbol.code}"

    @property
    def booked_amount(self) -> int:
        return sum(i.amount for i in self.booked)

    def problems(self) -> list[tuple[str, str, str]]:
        """``(kind, subject, detail)`` lines, one per thing that is wrong."""
        out: list[tuple[str, str, str]] = []
        for d in self.discrepancies:
            out.append(
                (
                    "discrepancy",
                    d.recipient,
                    f"database total {self.amount(d.db_total)} is below the booked total "
                    f"{self.amount(d.booked_total)}; not changed on chain",
                )
            )
        for name, reason in sorted(self.invalid.items()):
            out.append(("invalid name", name, reason))
        for r in self.rejected:
            out.append(("rejected row", r.row, r.reason))
        if self.shortfall:
            out.append(
                (
                    "shortfall",
                    f"{len(self.unfunded)} recipients",
                    f"free funds {self.amount(self.free_funds)} do not cover the increases "
                    f"{self.amount(self.needed)}; missing {self.amount(self.shortfall)} "
                    f"(oldest dues were booked first)",
                )
            )
        if self.topup_error:
            out.append(("top-up failed", "", self.topup_error))
        for f in self.failures:
            out.append(("booking failed", ", ".join(f.recipients), f.message))
        return out

    def render(self) -> object:
        """A rich renderable: the summary table and, when anything is wrong, the problems."""
        from rich.console import Group
        from rich.table import Table

        verb = "would book" if self.dry_run else "booked"
        summary = Table(title=f"payer sync ({self.mode}{', dry run' if self.dry_run else ''})")
        summary.add_column("item")
        summary.add_column("value", justify="right")
        summary.add_row("recipients compared", str(self.compared))
        summary.add_row(f"recipients {verb}", str(len(self.booked)))
        summary.add_row(f"amount {verb}", self.amount(self.booked_amount))
        summary.add_row("already on chain (re-sent)", str(len(self.already)))
        if self.recovered_sent or self.recovered_already or self.recovered_dropped:
            summary.add_row(
                "interrupted transactions",
                f"{self.recovered_sent} landed now, {self.recovered_already} had landed, "
                f"{self.recovered_dropped} expired",
            )
        summary.add_row("transactions", str(self.transactions))
        if self.topup:
            summary.add_row("top-up deposited", self.amount(self.topup))
        summary.add_row("discrepancies", str(len(self.discrepancies)))
        summary.add_row("invalid names", str(len(self.invalid)))
        summary.add_row("rejected rows", str(len(self.rejected)))
        if self.carried:
            summary.add_row(
                "owed below one token unit (carried)",
                f"{len(self.carried)} recipients, {sum(self.carried.values())} source units",
            )
        summary.add_row("shortfall", self.amount(self.shortfall))
        summary.add_row("failed bookings", str(sum(len(f.recipients) for f in self.failures)))
        if self.unconfirmed:
            summary.add_row("not yet irreversible", str(self.unconfirmed))
        summary.add_row("RPC calls / bytes", f"{self.rpc_calls} / {self.rpc_bytes}")
        summary.add_row("time", f"{self.elapsed_s:.2f} s")
        problems = self.problems()
        if not problems:
            return summary
        table = Table(title="problems")
        table.add_column("kind")
        table.add_column("subject", overflow="fold")
        table.add_column("detail", overflow="fold")
        for row in problems:
            table.add_row(*row)
        return Group(summary, table)
