"""The faults of a chaos run, each produced for real on the world's parts.

A fault has a kind, a *slot* (two faults of one slot never overlap: one network fault at a
time, one per program, one per proxy, one per account's resources) and a duration drawn from
the run's RNG. :func:`begin` starts it and returns what ends it (None for an instant fault).

=====================  ======================================================================
kind                   what happens
=====================  ======================================================================
sigkill_daemon/sync    SIGKILL of the program's process group at a random moment
crash_after_send_*     the program is restarted under tests/faults/crashpoint.py and SIGKILLs
                       itself right after its N-th transaction executed (answer never journaled)
sigstop_daemon/sync    SIGSTOP for a while, then SIGCONT
node_restart           a producer node stopped, then restarted on its data (it syncs again)
partition              one node cut off from the others (it forks; its blocks are dropped)
hold_lib               enough producers stopped that the last irreversible block cannot move
proxy_delay/drop/      an endpoint proxy that delays answers, closes connections, answers 5xx,
error/lost/stale       forwards but drops the answer, or freezes get_info (stale head)
cpu_admin/payer        the account's CPU used up for real (transactions it authorizes that
                       spend CPU in tests' cpuspender contract); the program rents more
ram_payer              the payer's spare RAM sold back to the market; payer sync buys more
=====================  ======================================================================
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .world import ADMIN, PAYER, World

Undo = Callable[[], None]


@dataclass(frozen=True)
class Kind:
    name: str
    slot: str
    weight: int
    #: (min, max) duration in seconds; (0, 0) for an instant fault
    duration: tuple[float, float]


KINDS: tuple[Kind, ...] = (
    Kind("sigkill_daemon", "daemon", 6, (0, 0)),
    Kind("sigkill_sync", "sync", 6, (0, 0)),
    Kind("crash_after_send_daemon", "daemon", 5, (4, 10)),
    Kind("crash_after_send_sync", "sync", 5, (4, 10)),
    Kind("sigstop_daemon", "daemon", 4, (1, 6)),
    Kind("sigstop_sync", "sync", 4, (1, 6)),
    Kind("node_restart", "network", 3, (1, 5)),
    Kind("partition", "network", 4, (2, 7)),
    Kind("hold_lib", "network", 3, (3, 8)),
    Kind("proxy_delay", "proxy", 4, (2, 6)),
    Kind("proxy_drop", "proxy", 4, (2, 6)),
    Kind("proxy_error", "proxy", 4, (2, 6)),
    Kind("proxy_lost", "proxy", 4, (2, 6)),
    Kind("proxy_stale", "proxy", 3, (3, 8)),
    Kind("cpu_admin", "res_admin", 3, (0, 0)),
    Kind("cpu_payer", "res_payer", 3, (0, 0)),
    Kind("ram_payer", "res_payer", 3, (0, 0)),
)


def pick(rng: random.Random, busy: set[str], kinds: tuple[Kind, ...] = KINDS) -> Kind | None:
    free = [k for k in kinds if k.slot not in busy]
    if not free:
        return None
    return rng.choices(free, weights=[k.weight for k in free])[0]


def begin(world: World, kind: Kind, rng: random.Random) -> tuple[str, Undo | None]:
    """Start ``kind``; returns (the slot it took, what ends it)."""
    name = kind.name
    if name.startswith("sigkill_"):
        prog = world.daemon if name.endswith("daemon") else world.sync
        assert prog is not None
        prog.kill()
        return kind.slot, None
    if name.startswith("crash_after_send_"):
        prog = world.daemon if name.endswith("daemon") else world.sync
        assert prog is not None
        action = "runpayouts" if prog is world.daemon else "bookm"
        prog.kill()
        prog.start(crash_at=f"after-send:{action}:{rng.randint(1, 4)}")
        return kind.slot, None  # it kills itself; the world restarts it
    if name.startswith("sigstop_"):
        prog = world.daemon if name.endswith("daemon") else world.sync
        assert prog is not None
        prog.pause()
        return kind.slot, prog.resume
    if name == "node_restart":
        i = rng.randrange(len(world.net.nodes))
        world.net.stop_node(i)

        def restart() -> None:
            world.net.restart_node(i)
            world.retarget_proxies(i)

        return kind.slot, restart
    if name == "partition":
        n = len(world.net.nodes)
        cut = rng.randrange(n)
        world.net.partition([cut], [j for j in range(n) if j != cut])
        return kind.slot, world.net.heal
    if name == "hold_lib":
        held = world.net.hold_lib()
        stopped = held.__enter__()

        def release() -> None:
            held.__exit__(None, None, None)
            for i in stopped:
                world.retarget_proxies(i)

        return kind.slot, release
    if name.startswith("proxy_"):
        i = rng.randrange(len(world.proxies))
        proxy = world.proxies[i]
        mode = name.removeprefix("proxy_")
        prob = rng.choice([0.3, 0.6, 1.0])
        if mode == "delay":
            proxy.set("delay", probability=prob, delay_s=rng.uniform(0.5, 4.0))
        elif mode == "drop":
            proxy.set("drop", probability=prob)
        elif mode == "error":
            proxy.set("error", probability=prob)
        elif mode == "lost":
            proxy.set("drop_answer", probability=prob, paths=["/v1/chain/send_transaction"])
        elif mode == "stale":
            proxy.set("stale", probability=1.0)

        def clear() -> None:
            proxy.set("pass")

        return kind.slot, clear
    if name in ("cpu_admin", "cpu_payer"):
        world.spend_cpu(ADMIN if name == "cpu_admin" else PAYER)
        return kind.slot, None  # the program must rent CPU again by itself
    if name == "ram_payer":
        world.sell_spare_ram(PAYER)
        return kind.slot, None  # payer sync must buy RAM again by itself
    raise ValueError(f"unknown fault {name}")
