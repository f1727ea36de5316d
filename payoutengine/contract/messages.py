"""The contract's ``check()`` messages, mirrored once (``namespace msg`` in
``contract/include/payoutengine/payoutengine.hpp``; ``tests/unit/test_contract_model.py`` keeps
them equal to the header's)."""

from __future__ import annotations

__all__ = ["Msg"]


class Msg:
    """The contract's ``check()`` messages (``namespace msg`` in payoutengine.hpp), each under
    its header name in upper case. :data:`Msg.ALL` is the set of them."""

    NOT_INITIALIZED = "contract is not initialized"
    UNKNOWN_ACTION = "unknown action"
    ADMIN_NOT_ACCOUNT = "admin account does not exist"
    FEE_TOO_HIGH = "fee must be at most 5 permille"
    FEE_ACCOUNT_MISSING = "fee account does not exist"
    FEE_ACCOUNT_IS_CONTRACT = "fee account cannot be the contract"
    FEE_ACCOUNT_NO_BALANCE = "fee account has no balance row for this token"
    TOKEN_NOT_ALLOWED = "token is not allowed"
    TOKEN_ALREADY_ALLOWED = "token is already allowed"
    TOKEN_SUSPENDED = "token is suspended"
    DEPOSIT_TOO_SMALL = "deposit too small to leave a credit after the fee"
    PAYER_NO_BALANCE_ROW = "payer has no balance row for this token"
    EMPTY_SCHEDULE_NAME = "schedule name is empty"
    SCHEDULE_EXISTS = "schedule already exists"
    UNKNOWN_SCHEDULE = "unknown schedule"
    INVALID_SYMBOL = "invalid symbol"
    TOKEN_CONTRACT_MISSING = "token contract does not exist"
    TOKEN_MISSING = "token does not exist"
    PRECISION_MISMATCH = "symbol precision mismatch"
    MEMO_TOO_LONG = "memo has more than 256 bytes"
    NO_SCHEDULE_FOR_TOKEN = "sender has no schedule in this token"
    DEPOSIT_NOT_POSITIVE = "deposit must be positive"
    DEPOSIT_OVERFLOW = "deposit overflow"
    NO_RECORDS = "no records"
    SYMBOL_MISMATCH = "symbol does not match the schedule"
    TOTAL_OUT_OF_RANGE = "new total out of range"
    RECIPIENT_MISSING = "recipient account does not exist"
    RECIPIENT_IS_CONTRACT = "cannot book the payout contract itself"
    NO_TOTAL_RAISED = "no total was raised"
    EXCEEDS_FREE_FUNDS = "booking exceeds free funds"
    BOOKING_OVERFLOW = "booking overflow"
    QUANTITY_NOT_POSITIVE = "quantity must be positive"
    NO_FUNDS_IN_TOKEN = "no funds in this token"
    WITHDRAW_EXCEEDS_FREE = "withdrawal exceeds free funds"
    NOTHING_DUE = "nothing due"
    NO_BALANCE_ROW = "recipient has no balance row for this token"
    NO_ACCOUNTS = "no accounts given"
    UNKNOWN_RECIPIENT = "unknown recipient account"
    COUNT_NOT_POSITIVE = "count must be positive"
    NOTHING_TO_PAY = "nothing to pay"

    ALL: frozenset[str]

    @classmethod
    def by_name(cls) -> dict[str, str]:
        """``{"NOTHING_TO_PAY": "nothing to pay", ...}``: every message under its name."""
        return {
            k: v for k, v in vars(cls).items() if k.isupper() and k != "ALL" and isinstance(v, str)
        }


Msg.ALL = frozenset(Msg.by_name().values())
