"""Time as the chain and the databases keep it.

- :func:`utcnow` — now, in UTC, without a time zone (how every database column holds time).
- :func:`naive_utc` — any datetime as such a naive UTC value.
- :func:`parse_chain_time` — a chain timestamp (``2026-11-22T01:53:38.500``, always UTC) as an
  aware :class:`~datetime.datetime`.
"""

from __future__ import annotations

import datetime as dt
import re

from .errors import ChainError

__all__ = ["naive_utc", "parse_chain_time", "utcnow"]

_CHAIN_TIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z?")


def utcnow() -> dt.datetime:
    """The current UTC time without a time zone, as the journal and sync state store it."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def naive_utc(t: dt.datetime) -> dt.datetime:
    """``t`` in UTC without a time zone (a naive ``t`` is taken to be UTC already)."""
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo is not None else t


def parse_chain_time(text: str) -> dt.datetime:
    """A chain timestamp such as ``head_block_time`` or a transaction's ``expiration``, in UTC
    (time-zone aware)."""
    m = _CHAIN_TIME_RE.fullmatch(text.strip())
    if m is None:
        raise ChainError(f"The chain time {text!r} is not of the form 2026-01-31T12:00:00.000.")
    base = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return base + dt.timedelta(microseconds=int((m.group(2) or "0").ljust(6, "0")))
