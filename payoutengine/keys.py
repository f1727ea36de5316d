"""secp256k1 (K1) keys: WIF private keys, public keys in both text forms, signatures.

- :class:`PrivateKey` — from a legacy WIF (``5...``) or ``PVT_K1_...``; derives the public key,
  signs digests. Its ``repr`` and ``str`` show only the public key, never the secret.
- :func:`load_key` — read a key from an environment variable or a file.
- Text ⇄ bytes helpers for public keys (``EOS...`` / ``PUB_K1_...``) and signatures
  (``SIG_K1_...``), used by the ABI serializer.

Signing uses libsecp256k1 (through ``coincurve``): deterministic RFC 6979 nonces, retried with
extra nonce data until the signature is canonical in the chain's sense (see
:func:`is_canonical`). The public key is derived the same way.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import base58
import coincurve
from coincurve._libsecp256k1 import ffi

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
    except ValueError:  # OpenSSL 3 without the legacy provider
        from Crypto.Hash import RIPEMD160

        return bytes(RIPEMD160.new(data).digest())


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


def signature_from_bytes(data: bytes) -> str:
    return "SIG_K1_" + base58.b58encode(data + _ripemd160(data + b"K1")[:4]).decode()


class PrivateKey:
    """A K1 private key. The secret is never shown by ``repr``/``str``."""

    __slots__ = ("_secret", "_public", "_signer")

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
        for attempt in range(1, 1000):
            # Extra nonce data (RFC 6979's "additional data") gives a new deterministic nonce.
            extra = ffi.new("unsigned char[32]", attempt.to_bytes(32, "little"))
            sig = self._signer.sign_recoverable(digest, hasher=None, custom_nonce=(ffi.NULL, extra))
            r, s, recid = sig[:32], sig[32:64], sig[64]
            compact = bytes([recid + 31]) + r + s  # 27 + 4 (compressed key) + recovery id
            if is_canonical(compact):
                return signature_from_bytes(compact)
        raise KeyFileError("Could not produce a canonical signature.")  # pragma: no cover

    def __repr__(self) -> str:
        return f"PrivateKey(public_key={self.public_key!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and other._public == self._public

    def __hash__(self) -> int:
        return hash(self._public)


def load_key(env_var: str | None = None, file: Path | None = None) -> PrivateKey:
    """Read a private key from the environment variable ``env_var`` or from ``file`` (first
    non-empty line). Exactly one source must be given; the secret is never logged."""
    if (env_var is None) == (file is None):
        raise KeyFileError("Give the private key either as an environment variable or a file.")
    if env_var is not None:
        text = os.environ.get(env_var, "").strip()
        if not text:
            raise KeyFileError(f"The environment variable {env_var} is not set or empty.")
        source = f"the environment variable {env_var}"
    else:
        assert file is not None
        try:
            lines = [ln.strip() for ln in file.read_text().splitlines() if ln.strip()]
        except OSError as exc:
            raise KeyFileError(
                f"The key file {file} cannot be read: {exc.strerror or exc}."
            ) from exc
        if not lines:
            raise KeyFileError(f"The key file {file} is empty.")
        text = lines[0]
        source = f"the key file {file}"
    try:
        return PrivateKey(text)
    except KeyFileError as exc:
        raise KeyFileError(f"The private key in {source} is invalid: {exc}") from None
