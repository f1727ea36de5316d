"""The chain side of a sync: the schedule, its ``recipients`` rows, the payer's free funds,
and the booking transactions (eosio.token ``open`` for new recipients + one ``bookm``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field

from payoutengine import contract as pc
from payoutengine.amounts import Asset
from payoutengine.client import ChainClient
from payoutengine.contract import ContractTables, Msg, Schedule
from payoutengine.errors import ConfigError, TransactionError
from payoutengine.keys import PrivateKey
from payoutengine.transactions import Action

from .plan import Increase

__all__ = ["Schedule", "ScheduleChain", "is_no_account"]

log = logging.getLogger(__name__)

#: messages that mean "this account does not exist" (the contract's and eosio.token's)
MSGS_NO_ACCOUNT = (Msg.RECIPIENT_MISSING, "account does not exist")

#: recipient rows read at once by :meth:`ScheduleChain.booked_of` (the chain client is shared by
#: threads, as the daemon's senders share theirs)
PARALLEL_READS = 8
#: rows per get_table_rows page when reading a whole schedule
PAGE_SIZE = 1000


@dataclass
class ScheduleChain:
    """One payer's view of one schedule: ``payer`` signs with ``key`` as
    ``payer@permission``."""

    client: ChainClient
    _: KW_ONLY
    contract: str
    payer: str
    schedule_name: str
    permission: str = "active"
    key: PrivateKey | None = None
    tables: ContractTables = field(init=False)
    _schedule: Schedule | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tables = ContractTables(self.client, self.contract, page_size=PAGE_SIZE)

    # -- reads --------------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule:
        if self._schedule is None:
            self._schedule = self.load_schedule()
        return self._schedule

    def load_schedule(self) -> Schedule:
        row = self.tables.schedule(self.schedule_name)
        if row is None:
            raise ConfigError(
                f"The schedule {self.schedule_name!r} does not exist in contract "
                f"{self.contract}; create it with newschedule or fix [payer] schedule."
            )
        if row.payer != self.payer:
            raise ConfigError(
                f"The schedule {self.schedule_name!r} belongs to payer {row.payer!r}, not "
                f"{self.payer!r}; fix [payer] account or [payer] schedule."
            )
        precision = self.client.get_token_precision(row.tkcontract, row.symbol.code)
        if precision != row.symbol.precision:
            raise ConfigError(
                f"The schedule's currency {row.symbol} does not match the token's precision "
                f"{precision} in {row.tkcontract}."
            )
        return row

    def iter_recipients(self) -> Iterator[tuple[str, int]]:
        """Every ``(account, booked_total)`` of the schedule, paging through the table."""
        for row in self.tables.recipients(self.schedule_name):
            yield row.account, row.booked_total

    def booked_of(self, names: Sequence[str]) -> dict[str, int]:
        """``booked_total`` of each given recipient that has a row: one read each, up to
        :data:`PARALLEL_READS` at a time (an incremental sync of a few hundred changed
        recipients is as quick as its slowest reads, not their sum)."""

        def read(name: str) -> tuple[str, int] | None:
            r = self.tables.recipient(self.schedule_name, name)
            return None if r is None else (r.account, r.booked_total)

        if len(names) <= 2:
            found = [read(n) for n in names]
        else:
            with ThreadPoolExecutor(
                max_workers=min(PARALLEL_READS, len(names)), thread_name_prefix="booked-of"
            ) as pool:
                found = list(pool.map(read, names))
        return dict(f for f in found if f is not None)

    def free_funds(self) -> int:
        """``deposited − dues`` of the payer's funds row for the schedule's token."""
        sched = self.schedule
        funds = self.tables.funds_in(self.payer, sched.tkcontract, sched.symbol)
        return funds.free if funds is not None else 0

    def fee_permille(self) -> int:
        settings = self.tables.settings()
        return settings.fee_permille if settings is not None else 0

    def account_exists(self, name: str) -> bool:
        return self.client.get_account(name) is not None

    # -- transactions -------------------------------------------------------------------
    def _auth(self) -> list[str]:
        return [f"{self.payer}@{self.permission}"]

    def _keys(self) -> list[PrivateKey]:
        if self.key is None:
            raise ConfigError("No payer key is loaded; configure [payer] key_env or key_file.")
        return [self.key]

    def booking_actions(self, batch: Sequence[Increase]) -> list[Action]:
        """eosio.token ``open`` for each new recipient (the payer pays the balance row), then
        one ``bookm``."""
        sched = self.schedule
        auth = self._auth()
        actions = [
            pc.token_open(
                sched.tkcontract, inc.recipient, sched.symbol, ram_payer=self.payer, authority=auth
            )
            for inc in batch
            if inc.new_recipient
        ]
        records = [pc.BookRecord(inc.recipient, inc.new_total, inc.memo) for inc in batch]
        actions.append(
            pc.bookm(self.contract, self.schedule_name, sched.symbol, records, authority=auth)
        )
        return actions

    def deposit_action(self, amount: int, memo: str) -> Action:
        sched = self.schedule
        return pc.token_transfer(
            sched.tkcontract,
            self.payer,
            self.contract,
            Asset(amount, sched.symbol),
            memo,
            authority=self._auth(),
        )


def is_no_account(exc: TransactionError) -> bool:
    text = exc.message.lower()
    return any(m in text for m in MSGS_NO_ACCOUNT)
