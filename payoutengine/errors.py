"""The exception hierarchy of the payoutengine package.

Every error the package raises on purpose is a :class:`PayoutEngineError`; the command line
catches that base class, prints ``ErrorType: message`` without a traceback, and exits with
:func:`exit_status` of the error (the table is in docs/operations.md, "Exit statuses").

::

    PayoutEngineError
    ├── ConfigError            invalid configuration or command-line input
    ├── AmountError            an amount or symbol that does not parse exactly
    ├── KeyFileError           a private key that is missing, unreadable or malformed
    └── ChainError             anything about talking to a chain
        ├── EndpointError      endpoint unreachable, HTTP failure, wrong chain, stale head
        │   └── ChainStalledError  blocks do not become final (the LIB stands still)
        ├── TransactionError   the chain rejected a transaction (carries the assert message)
        └── AbiError           a value that does not fit its ABI type, an unknown type

Messages are full sentences; context is carried in attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "AbiError",
    "AmountError",
    "ChainError",
    "ChainStalledError",
    "ConfigError",
    "EndpointError",
    "KeyFileError",
    "PayoutEngineError",
    "TransactionError",
    "exit_status",
]

#: success; nothing needs attention.
EXIT_OK = 0
#: the command failed, or ran to the end and reports something that needs a person.
EXIT_FAILED = 1
#: bad input: configuration, key, command line or installation; fix it and run again.
EXIT_INPUT = 2
#: no chain endpoint could be used (or no local chain runs).
EXIT_UNREACHABLE = 3


class PayoutEngineError(Exception):
    """Base class of every error the package raises on purpose."""


class ConfigError(PayoutEngineError):
    """Configuration or command-line input is invalid; the message says how to fix it."""


class AmountError(PayoutEngineError, ValueError):
    """An amount, asset or symbol text does not parse exactly."""


class KeyFileError(PayoutEngineError):
    """A private key is missing, unreadable or malformed. Never carries the secret itself."""


class ChainError(PayoutEngineError):
    """Something went wrong talking to a chain."""


class EndpointError(ChainError):
    """An endpoint (or every endpoint) is unreachable, failing, or unhealthy.

    ``endpoint`` is the URL that failed, or a comma-separated list when all of them did.
    """

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class ChainStalledError(EndpointError):
    """The endpoints answer, but the chain's last irreversible block stands still: what is
    sent now may still be dropped by a fork, and nothing becomes final. ``lag_s`` is how far
    the last irreversible block is behind the head block, in seconds."""

    def __init__(self, message: str, *, endpoint: str, lag_s: float) -> None:
        super().__init__(message, endpoint=endpoint)
        self.lag_s = lag_s


class AbiError(ChainError, ValueError):
    """A value does not fit its ABI type, or a type is unknown."""


def exit_status(error: PayoutEngineError) -> int:
    """The exit status of a command that stops on ``error``."""
    if isinstance(error, (ConfigError, KeyFileError, AmountError)):
        return EXIT_INPUT
    if isinstance(error, EndpointError):
        return EXIT_UNREACHABLE
    return EXIT_FAILED


_ASSERT_RE = re.compile(r"assertion failure with message: (.*)", re.DOTALL)

#: node error names that mean "the transaction ran out of time" — it may succeed when retried.
CPU_EXCEEDED_NAMES = frozenset(
    {
        "tx_cpu_usage_exceeded",
        "deadline_exception",
        "leeway_deadline_exception",
        "block_cpu_usage_exceeded",
        "greylist_cpu_usage_exceeded",
        "ro_trx_vm_oc_compile_temporary_failure",
        "tx_net_usage_exceeded",
        "block_net_usage_exceeded",
    }
)


class TransactionError(ChainError):
    """The chain rejected a transaction.

    Attributes:
        message: the contract's ``check()`` message when there is one (``"nothing due"``),
            otherwise the node's best description.
        code: the node's numeric error code (e.g. 3050003), or None.
        name: the node's error name (e.g. ``"eosio_assert_message_exception"``), or None.
        tx_id: the transaction id when known.
        details: the node's detail messages, in order.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        name: str | None = None,
        tx_id: str | None = None,
        details: Sequence[str] = (),
        failed_actions: Sequence[tuple[str, str, str]] = (),
        trace: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.name = name
        self.tx_id = tx_id
        self.details = list(details)
        #: (receiver, account, action) of each action trace that failed, when the node sent a
        #: failure trace (``ChainClient.send(..., failure_trace=True)``).
        self.failed_actions = list(failed_actions)
        #: the failure trace itself, when there is one.
        self.trace = trace
        #: the same bytes went to another endpoint first, which failed after receiving them:
        #: that node may have executed the transaction, so this refusal is not final.
        self.maybe_elsewhere = False
        where = f" (transaction {tx_id})" if tx_id else ""
        label = f" [{name}]" if name else ""
        super().__init__(f"The chain rejected the transaction{where}{label}: {message}")

    @property
    def cpu_exceeded(self) -> bool:
        """True when the transaction ran out of CPU time or hit a deadline (retry may help)."""
        if self.name in CPU_EXCEEDED_NAMES:
            return True
        text = " ".join([self.message, *self.details]).lower()
        return "deadline exceeded" in text or "billed cpu time" in text

    @property
    def duplicate(self) -> bool:
        """True when the node already knows this transaction id (tx_duplicate)."""
        return self.name == "tx_duplicate" or "duplicate transaction" in self.message.lower()

    @property
    def expired(self) -> bool:
        """True when the transaction's expiration has passed (expired_tx_exception)."""
        return self.name == "expired_tx_exception" or "expired transaction" in self.message.lower()

    @property
    def is_assert(self) -> bool:
        """True when a contract's ``check()`` failed; ``message`` is then its text."""
        return self.name in {"eosio_assert_message_exception", "eosio_assert_code_exception"}

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any], *, tx_id: str | None = None
    ) -> TransactionError:
        """Build from a node error body ``{"code": 500, "error": {code, name, what, details}}``
        or from a failed trace's ``except`` object (``{code, name, message, stack}``)."""
        err: Mapping[str, Any] = body.get("error") or body.get("except") or body
        details = [
            str(d.get("message", "")) for d in err.get("details") or [] if isinstance(d, Mapping)
        ]
        for entry in err.get("stack") or []:
            if not isinstance(entry, Mapping):
                continue
            text = str(entry.get("format", ""))
            for key, value in (entry.get("data") or {}).items():
                text = text.replace("${" + str(key) + "}", str(value))
            details.append(text)
        message = ""
        for d in details:
            m = _ASSERT_RE.search(d)
            if m:
                message = m.group(1).strip()
                break
        if not message:
            message = next((d for d in details if d), "") or str(
                err.get("what") or err.get("message") or body.get("message") or "unknown error"
            )
        code = err.get("code")
        return cls(
            message,
            code=int(code) if isinstance(code, int) else None,
            name=str(err["name"]) if err.get("name") else None,
            tx_id=tx_id,
            details=details,
        )
