"""secp256k1 (K1) keys: WIF private keys, public keys in both text forms, signatures.

- :class:`PrivateKey` — from a legacy WIF (``5...``) or ``PVT_K1_...``; derives the public key,
  signs digests. Its ``repr`` and ``str`` show only the public key, never the secret.
- :func:`load_key` — read a key from an environment variable or a file.
- Text ⇄ bytes helpers for public keys (``EOS...`` / ``PUB_K1_...``) and signatures
  (``SIG_K1_...``), used by the ABI serializer.

Signing uses libsecp256k1 through ``coincurve``'s public API. The chain accepts only
*canonical* signatures (see :func:`is_canonical`); about half of plain RFC 6979 signatures are
not. The first attempt is libsecp256k1's own deterministic signature; when it is not canonical,
the next attempts use RFC 6979 nonces with a counter as additional data (as libsecp256k1 would
with extra nonce data), computed here, with the nonce point ``k·G`` from libsecp256k1. Every
attempt is deterministic, so the same key and digest always give the same signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

import base58
import coincurve

from .errors import KeyFileError

__all__ = [
    "PrivateKey",
    "is_canonical",
    "load_key",
    "public_key_from_bytes",
    "public_key_to_bytes",
    "signature_from_bytes",
    "signature_to_bytes",
]

#: the order of secp256k1's group: a private key is an integer in [1, _N).
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _ripemd160(data: bytes) -> bytes:
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # OpenSSL 3.0.0-3.0.6 kept RIPEMD-160 in its legacy provider only
        raise KeyFileError(
            "This Python's OpenSSL has no RIPEMD-160 (needed for key checksums); use a Python "
            "built with OpenSSL 1.1 or 3.0.7 and later."
        ) from None


def _rfc6979_nonce(secret: bytes, digest: bytes, extra: bytes) -> int:
    """RFC 6979 (HMAC-SHA256) nonce for ``digest`` with ``extra`` as additional data."""
    msg = (int.from_bytes(digest, "big") % _N).to_bytes(32, "big")
    seed = secret + msg + extra
    k, v = b"\x00" * 32, b"\x01" * 32
    k = hmac.digest(k, v + b"\x00" + seed, "sha256")
    v = hmac.digest(k, v, "sha256")
    k = hmac.digest(k, v + b"\x01" + seed, "sha256")
    v = hmac.digest(k, v, "sha256")
    while True:
        v = hmac.digest(k, v, "sha256")
        nonce = int.from_bytes(v, "big")
        if 0 < nonce < _N:
            return nonce
        k = hmac.digest(k, v + b"\x00", "sha256")
        v = hmac.digest(k, v, "sha256")


#: the largest r (and s) the chain accepts: 32 bytes whose top bit is clear.
_MAX_CANONICAL = 1 << 255
#: below this, the 32 bytes start with a zero byte followed by one without its top bit set,
#: which the chain rejects as needless padding.
_MIN_CANONICAL = 1 << 247


def _canonical_component(value: int) -> bool:
    return _MIN_CANONICAL <= value < _MAX_CANONICAL


def _sign_with_nonce(d: int, digest: bytes, nonce: int) -> bytes | None:
    """The canonical compact signature ``header || r || s`` (low s) of ``digest`` with this
    nonce, or None when r or s breaks the chain's rule (r is checked before the costly
    modular inverse)."""
    point = coincurve.PublicKey.from_secret(nonce.to_bytes(32, "big")).format(compressed=True)
    x = int.from_bytes(point[1:], "big")
    r = x % _N
    if not _canonical_component(r):
        return None
    recid = (point[0] & 1) | (2 if x >= _N else 0)
    s = pow(nonce, -1, _N) * (int.from_bytes(digest, "big") + r * d) % _N
    if s > _N // 2:
        s, recid = _N - s, recid ^ 1
    if not _canonical_component(s):
        return None
    # 27 + 4 (compressed public key) + recovery id
    return bytes([recid + 31]) + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _b58_check_k1(text: str, prefix: str, size: int, kind: str) -> bytes:
    try:
        raw = base58.b58decode(text[len(prefix) :])
    except ValueError as exc:
        raise KeyFileError(f"The {kind} is not valid base58.") from exc
    data, check = raw[:-4], raw[-4:]
    if len(data) != size:
        raise KeyFileError(f"The {kind} has {len(data)} bytes of data; expected {size}.")
    suffix = b"" if prefix == "EOS" else b"K1"
    if _ripemd160(data + suffix)[:4] != check:
        raise KeyFileError(f"The {kind} has a wrong checksum.")
    return data


def public_key_to_bytes(text: str) -> bytes:
    """The 33-byte compressed point of ``EOS...`` or ``PUB_K1_...``."""
    if text.startswith("PUB_K1_"):
        return _b58_check_k1(text, "PUB_K1_", 33, "public key")
    if text.startswith("EOS"):
        return _b58_check_k1(text, "EOS", 33, "public key")
    raise KeyFileError(
        f"The public key {text[:12]!r}... is neither an 'EOS...' nor a 'PUB_K1_...' K1 key."
    )


def public_key_from_bytes(data: bytes, *, legacy: bool = True) -> str:
    """Text form of a 33-byte compressed K1 public key: ``EOS...`` or ``PUB_K1_...``."""
    if legacy:
        return "EOS" + base58.b58encode(data + _ripemd160(data)[:4]).decode()
    return "PUB_K1_" + base58.b58encode(data + _ripemd160(data + b"K1")[:4]).decode()


def signature_to_bytes(text: str) -> bytes:
    """The 65 bytes of a ``SIG_K1_...`` signature."""
    if not text.startswith("SIG_K1_"):
        raise KeyFileError("Only K1 signatures ('SIG_K1_...') are supported.")
    return _b58_check_k1(text, "SIG_K1_", 65, "signature")


def is_canonical(compact: bytes) -> bool:
    """The chain's rule for a 65-byte compact signature: r and s (bytes 1-32, 33-64) each have
    the top bit clear and are not padded with a needless leading zero byte."""
    return not (
        compact[1] & 0x80
        or (compact[1] == 0 and not compact[2] & 0x80)
        or compact[33] & 0x80
        or (compact[33] == 0 and not compact[34] & 0x80)
    )


_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
#: every two-digit base58 string, by value (0 .. 58**2 - 1)
_B58_PAIRS = [a + b for a in _B58_ALPHABET for b in _B58_ALPHABET]
_B58_CHUNK = 58**10  # ten digits per big-integer division


def _b58encode(data: bytes) -> str:
    """Base58 (Bitcoin alphabet) of ``data``: the big integer is divided ten digits at a time
    and each part written two digits at a time (several times faster than the ``base58``
    package, which matters on the signing path)."""
    value = int.from_bytes(data, "big")
    parts: list[str] = []
    while value:
        value, chunk = divmod(value, _B58_CHUNK)
        for _ in range(5):
            chunk, pair = divmod(chunk, 3364)
            parts.append(_B58_PAIRS[pair])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(parts)).lstrip("1")


def signature_from_bytes(data: bytes) -> str:
    return "SIG_K1_" + _b58encode(data + _ripemd160(data + b"K1")[:4])


class PrivateKey:
    """A K1 private key. The secret is never shown by ``repr``/``str``."""

    __slots__ = ("_secret", "_d", "_public", "_signer")

    def __init__(self, wif: str) -> None:
        wif = wif.strip()
        if wif.startswith("PVT_K1_"):
            secret = _b58_check_k1(wif, "PVT_K1_", 32, "private key")
        else:
            try:
                raw = base58.b58decode(wif)
            except ValueError as exc:
                raise KeyFileError(
                    "The private key is neither a WIF ('5...') nor a 'PVT_K1_...' key."
                ) from exc
            if len(raw) != 37 or raw[0] != 0x80:
                raise KeyFileError(
                    "The private key is neither a WIF ('5...') nor a 'PVT_K1_...' key."
                )
            digest = hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()
            if digest[:4] != raw[-4:]:
                raise KeyFileError("The private key has a wrong checksum.")
            secret = raw[1:33]
        d = int.from_bytes(secret, "big")
        if not 0 < d < _N:
            raise KeyFileError("The private key is out of the secp256k1 range.")
        self._secret = secret
        self._d = d
        self._signer = coincurve.PrivateKey(secret)
        self._public = self._signer.public_key.format(compressed=True)

    @property
    def public_key(self) -> str:
        """The legacy ``EOS...`` form."""
        return public_key_from_bytes(self._public, legacy=True)

    @property
    def public_key_k1(self) -> str:
        """The ``PUB_K1_...`` form."""
        return public_key_from_bytes(self._public, legacy=False)

    @property
    def public_key_bytes(self) -> bytes:
        return self._public

    @classmethod
    def generate(cls) -> PrivateKey:
        """A new random key (for a dedicated permission, a test account, ...)."""
        while True:
            secret = secrets.token_bytes(32)
            if 0 < int.from_bytes(secret, "big") < _N:
                raw = b"\x80" + secret
                check = hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
                return cls(base58.b58encode(raw + check).decode())

    def to_wif(self) -> str:
        """The legacy WIF text (the secret: handle with care)."""
        raw = b"\x80" + self._secret
        check = hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
        return base58.b58encode(raw + check).decode()

    def sign_digest_preimage(self, preimage: bytes) -> str:
        """Sign ``sha256(preimage)`` and return ``SIG_K1_...``: a transaction is signed by
        passing ``chain_id || packed_trx || context_free_digest`` here."""
        digest = hashlib.sha256(preimage).digest()
        sig = self._signer.sign_recoverable(digest, hasher=None)  # r || s || recovery id
        compact: bytes | None = bytes([sig[64] + 31]) + sig[:64]
        attempt = 0
        while compact is None or not is_canonical(compact):  # about every other time
            attempt += 1
            nonce = _rfc6979_nonce(self._secret, digest, attempt.to_bytes(32, "little"))
            compact = _sign_with_nonce(self._d, digest, nonce)
        return signature_from_bytes(compact)

    def __repr__(self) -> str:
        return f"PrivateKey(public_key={self.public_key!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and other._public == self._public

    def __hash__(self) -> int:
        return hash(self._public)


def load_key(env_var: str | None = None, file: Path | None = None) -> PrivateKey:
    """The private key from the environment variable ``env_var`` when it is set and not empty,
    else from the first non-empty line of ``file``, which must be readable by its owner only
    (mode 0600 or stricter). The secret is never logged nor put into a message."""
    if env_var and os.environ.get(env_var, "").strip():
        text = os.environ[env_var].strip()
        source = f"the environment variable {env_var}"
    elif file is not None:
        text = _read_key_file(file)
        source = f"the key file {file}"
    elif env_var:
        raise KeyFileError(f"The environment variable {env_var} is not set or empty.")
    else:
        raise KeyFileError("Give the private key either as an environment variable or a file.")
    try:
        return PrivateKey(text)
    except KeyFileError as exc:
        raise KeyFileError(f"The private key in {source} is invalid: {exc}") from None


def _read_key_file(file: Path) -> str:
    try:
        with open(file, encoding="utf-8") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if mode & 0o077:
                raise KeyFileError(
                    f"The key file {file} can be read by other users (mode "
                    f"{stat.S_IMODE(mode):04o}); run 'chmod 600 {file}'."
                )
            lines = [ln.strip() for ln in fh.read().splitlines() if ln.strip()]
    except OSError as exc:
        raise KeyFileError(f"The key file {file} cannot be read: {exc.strerror or exc}.") from None
    if not lines:
        raise KeyFileError(f"The key file {file} is empty.")
    return lines[0]
