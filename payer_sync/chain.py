"""The chain side of a sync: the schedule, its ``recipients`` rows, the payer's free funds,
and the booking transactions (eosio.token ``open`` for new recipients + one ``bookm``)."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from payoutengine.abi import name_to_int, varuint32
from payoutengine.amounts import Asset, Symbol
from payoutengine.client import ChainClient
from payoutengine.errors import ConfigError, TransactionError
from payoutengine.keys import PrivateKey
from payoutengine.transactions import Action

from .plan import Increase

__all__ = ["Schedule", "ScheduleChain", "MSG_NO_TOTAL_RAISED", "MSG_EXCEEDS_FREE_FUNDS"]

log = logging.getLogger(__name__)

# The contract's check() messages payer sync reacts to (contract/include/payoutengine/
# payoutengine.hpp is the source; tests/sync asserts them against the deployed contract).
MSG_NO_TOTAL_RAISED = "no total was raised"
MSG_EXCEEDS_FREE_FUNDS = "booking exceeds free funds"
#: substrings of messages that mean "this account does not exist" (ours and eosio.token's)
MSGS_NO_ACCOUNT = ("account does not exist", "recipient does not exist")

#: rows per get_table_rows page when reading a whole schedule
PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    payer: str
    tkcontract: str
    symbol: Symbol
    memo: str


class ScheduleChain:
    """One payer's view of one schedule."""

    def __init__(
        self,
        client: ChainClient,
        *,
        contract: str,
        payer: str,
        schedule: str,
        permission: str = "active",
        key: PrivateKey | None = None,
    ) -> None:
        self.client = client
        self.contract = contract
        self.payer = payer
        self.schedule_name = schedule
        self.permission = permission
        self.key = key
        self._schedule: Schedule | None = None

    # -- reads --------------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule:
        if self._schedule is None:
            self._schedule = self.load_schedule()
        return self._schedule

    def load_schedule(self) -> Schedule:
        page = self.client.get_table_rows(
            self.contract,
            self.contract,
            "schedules",
            lower_bound=self.schedule_name,
            upper_bound=self.schedule_name,
            limit=1,
        )
        rows = [r for r in page["rows"] if r.get("schedule_name") == self.schedule_name]
        if not rows:
            raise ConfigError(
                f"The schedule {self.schedule_name!r} does not exist in contract "
                f"{self.contract}; create it with newschedule or fix [payer] schedule."
            )
        row = rows[0]
        if row["payer"] != self.payer:
            raise ConfigError(
                f"The schedule {self.schedule_name!r} belongs to payer {row['payer']!r}, not "
                f"{self.payer!r}; fix [payer] account or [payer] schedule."
            )
        symbol = Asset.parse(str(row["currency"])).symbol
        precision = self.client.get_token_precision(str(row["tkcontract"]), symbol.code)
        if precision != symbol.precision:
            raise ConfigError(
                f"The schedule's currency {symbol} does not match the token's precision "
                f"{precision} in {row['tkcontract']}."
            )
        return Schedule(
            self.schedule_name, self.payer, str(row["tkcontract"]), symbol, str(row["memo"])
        )

    def iter_recipients(self) -> Iterator[tuple[str, int]]:
        """Every ``(account, booked_total)`` of the schedule, paging through the table."""
        for row in self.client.iter_table(
            self.contract, self.schedule_name, "recipients", page_size=PAGE_SIZE
        ):
            yield str(row["account"]), int(row["booked_total"])

    def booked_of(self, names: Sequence[str]) -> dict[str, int]:
        """``booked_total`` of each given recipient that has a row (one read each)."""
        out: dict[str, int] = {}
        for name in names:
            page = self.client.get_table_rows(
                self.contract,
                self.schedule_name,
                "recipients",
                lower_bound=name,
                upper_bound=name,
                limit=1,
            )
            for row in page["rows"]:
                if row["account"] == name:
                    out[name] = int(row["booked_total"])
        return out

    def free_funds(self) -> int:
        """``deposited − dues`` of the payer's funds row for the schedule's token."""
        sched = self.schedule
        for row in self.client.iter_table(self.contract, self.payer, "funds", page_size=100):
            if row["tkcontract"] != sched.tkcontract:
                continue
            deposited = Asset.parse(str(row["deposited"]))
            if deposited.symbol != sched.symbol:
                continue
            dues = Asset.parse(str(row["dues"]))
            return deposited.amount - dues.amount
        return 0

    def fee_permille(self) -> int:
        page = self.client.get_table_rows(self.contract, self.contract, "settings", limit=1)
        rows = page["rows"]
        return int(rows[0].get("fee_permille", 0)) if rows else 0

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
        one ``bookm``. The action data is packed here directly (fixed layouts; checked against
        the ABIs by tests/sync/test_packing.py): a big batch packs ten times faster than
        through the generic ABI serializer."""
        sched = self.schedule
        auth = self._auth()
        payer = name_to_int(self.payer)
        sym = struct.pack("<Q", sched.symbol.raw)
        actions = [
            Action(sched.tkcontract, "open", auth, pack_open(inc.recipient, sym, payer))
            for inc in batch
            if inc.new_recipient
        ]
        actions.append(
            Action(self.contract, "bookm", auth, pack_bookm(self.schedule_name, batch, sym))
        )
        return actions

    def deposit_action(self, amount: int, memo: str) -> Action:
        sched = self.schedule
        return Action(
            sched.tkcontract,
            "transfer",
            self._auth(),
            {
                "from": self.payer,
                "to": self.contract,
                "quantity": str(Asset(amount, sched.symbol)),
                "memo": memo,
            },
        )


def is_no_account(exc: TransactionError) -> bool:
    text = exc.message.lower()
    return any(m in text for m in MSGS_NO_ACCOUNT)


def pack_open(owner: str, symbol_raw: bytes, ram_payer: int) -> bytes:
    """eosio.token ``open(name owner, symbol symbol, name ram_payer)``."""
    return struct.pack("<Q", name_to_int(owner)) + symbol_raw + struct.pack("<Q", ram_payer)


def pack_bookm(schedule: str, batch: Sequence[Increase], symbol_raw: bytes) -> bytes:
    """``bookm(name schedule_name, bookm_record[] records)``; a record is
    ``{name recipient; asset new_total; string memo}``."""
    parts = [struct.pack("<Q", name_to_int(schedule)), varuint32(len(batch))]
    for inc in batch:
        memo = inc.memo.encode()
        parts.append(struct.pack("<Qq", name_to_int(inc.recipient), inc.new_total))
        parts.append(symbol_raw)
        parts.append(varuint32(len(memo)))
        parts.append(memo)
    return b"".join(parts)
