"""``payoutengine status``: the picture /metrics gives, as a table or JSON.

Reads the chain (dues per schedule, unapproved accounts, revision) and the journal
(transactions by status, payments and amounts sent, poison recipients, last payout). No key is
needed. Dues and approvals are counted page by page from undecoded rows (large pages, nothing
kept): memory stays flat, and the time grows with the rows (one request per 5000 of them). When
the chain cannot be reached the journal part is still shown and the command exits non-zero.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from payoutengine.amounts import format_amount
from payoutengine.client import ChainClient
from payoutengine.errors import ChainError
from payoutengine.journal import IRREVERSIBLE, Journal, JournalTx, Payment

from .config import Config
from .contract import ContractView

__all__ = ["collect_status", "render_status"]


def collect_status(cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"contract": cfg.contract.account, "chain": None, "chain_error": None}
    journal = Journal(cfg.journal.url)
    try:
        with journal.session() as s:
            out["transactions"] = Journal.count_by_status(s)
            rows = s.execute(
                select(
                    Payment.token,
                    Payment.symbol,
                    Payment.precision,
                    func.count(),
                    func.sum(Payment.amount),
                )
                # paid = what irreversible transactions paid (their block's own run); a
                # transaction still open may yet be dropped or land paying others
                .join(JournalTx, JournalTx.tx_id == Payment.tx_id)
                .where(JournalTx.status == IRREVERSIBLE)
                .group_by(Payment.token, Payment.symbol, Payment.precision)
            ).all()
            out["payments"] = [
                {
                    "token": t,
                    "symbol": sym,
                    "count": int(n),
                    "amount_units": int(total or 0),
                    "amount": f"{format_amount(int(total or 0), int(prec))} {sym}",
                }
                for t, sym, prec, n, total in rows
            ]
            out["poison"] = [
                {
                    "account": p.account,
                    "detected_at": p.detected_at.isoformat() + "Z",
                    "tx_id": p.tx_id,
                    "reason": p.reason,
                }
                for p in Journal.poison_list(s)
            ]
            last = Journal.get_state(s, "last_payout")
        out["last_payout_unix"] = float(last) if last else None
        out["seconds_since_last_payout"] = round(time.time() - float(last), 1) if last else None
    finally:
        journal.close()

    client = ChainClient(
        cfg.chain.endpoints,
        timeout=cfg.chain.timeout_s,
        max_head_age_s=cfg.chain.max_head_age_s,
        expected_chain_id=cfg.chain.chain_id or None,
    )
    try:
        view = ContractView(client, cfg.contract.account)
        health = client.health()
        settings = view.settings()
        dues = view.dues_per_schedule()
        approved, unapproved = view.approval_counts()
        out["chain"] = {
            "endpoint": health.endpoint,
            "healthy": health.ok,
            "problems": list(health.problems),
            "chain_id": health.chain_id,
            "head_block_num": health.head_block_num,
            "head_age_s": round(health.head_age_s, 1),
            "revision": settings.revision if settings else None,
            "admin": settings.admin if settings else None,
            "dues_outstanding": dues,
            "unapproved_accounts": unapproved,
            "approved_accounts": approved,
        }
    except ChainError as e:
        out["chain_error"] = str(e)
    finally:
        client.close()
    return out


def render_status(st: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title=f"payoutengine admin — {st['contract']}", show_header=True)
    t.add_column("what")
    t.add_column("value", overflow="fold")
    chain = st.get("chain")
    if chain:
        t.add_row(
            "endpoint", f"{chain['endpoint']} ({'healthy' if chain['healthy'] else 'UNHEALTHY'})"
        )
        for p in chain["problems"]:
            t.add_row("  problem", p)
        t.add_row("head block", f"{chain['head_block_num']} ({chain['head_age_s']} s old)")
        t.add_row("revision", str(chain["revision"]))
        t.add_row("admin", str(chain["admin"]))
        total = sum(chain["dues_outstanding"].values())
        t.add_row("dues outstanding", str(total))
        for name, n in sorted(chain["dues_outstanding"].items()):
            t.add_row(f"  {name}", str(n))
        t.add_row("unapproved accounts", str(chain["unapproved_accounts"]))
        t.add_row("approved accounts", str(chain["approved_accounts"]))
    else:
        t.add_row("chain", f"[red]unreachable[/red]: {st.get('chain_error')}")
    for status, n in st["transactions"].items():
        t.add_row(f"transactions {status}", str(n))
    for p in st["payments"]:
        t.add_row(f"paid {p['token']} {p['symbol']}", f"{p['count']} payments, {p['amount']}")
    since = st["seconds_since_last_payout"]
    t.add_row("last successful payout", "never" if since is None else f"{since} s ago")
    t.add_row("poison recipients", str(len(st["poison"])))
    for p in st["poison"]:
        t.add_row(f"  {p['account']}", f"{p['detected_at']}: {p['reason']}")
    console.print(t)
