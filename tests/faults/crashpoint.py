"""Run a real ``payoutengine`` entry point and SIGKILL it at a send the test chooses.

    python -m tests.faults.crashpoint --at after-send:bookm:2 -- sync -c sync.toml once

``--at WHEN:ACTION:N``: kill the process with SIGKILL at a transaction holding an action named
ACTION that the program hands to ``ChainClient.send`` — ``before-send``: the N-th one, signed
and journaled, never sent; ``after-send``: the N-th one the node executed (refusals are not
counted), its answer never journaled. The arguments after ``--`` go to the ``payoutengine``
command line unchanged. The breakpoint is installed here, around the real client; the
program itself is untouched.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from payoutengine.client import ChainClient
from payoutengine.transactions import SignedTransaction


def install(when: str, action: str, nth: int) -> None:
    real_send = ChainClient.send
    seen = 0
    lock = threading.Lock()  # the daemon sends from several threads

    def reached() -> bool:
        nonlocal seen
        with lock:
            seen += 1
            return seen == nth

    def send(self: ChainClient, signed: SignedTransaction, **kw: Any) -> dict[str, Any]:
        ours = action in {str(a["name"]) for a in signed.decode()["actions"]}
        if ours and when == "before-send" and reached():
            os.kill(os.getpid(), signal.SIGKILL)
        answer = real_send(self, signed, **kw)  # a refusal raises: not counted
        if ours and when == "after-send" and reached():
            os.kill(os.getpid(), signal.SIGKILL)
        return answer

    ChainClient.send = send  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--at", required=True, help="before-send|after-send:ACTION:N")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    when, action, nth = ns.at.split(":")
    if when not in ("before-send", "after-send"):
        parser.error(f"unknown crash point {when!r}")
    install(when, action, int(nth))
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    from payoutengine.cli import main as payoutengine_main

    sys.argv = ["payoutengine", *args]
    payoutengine_main()


if __name__ == "__main__":
    main()
