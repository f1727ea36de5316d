from __future__ import annotations

import hashlib
from pathlib import Path

import base58
import pytest

from payoutengine.abi import NATIVE_ABI, Abi
from payoutengine.errors import KeyFileError
from payoutengine.keys import (
    PrivateKey,
    load_key,
    public_key_from_bytes,
    public_key_to_bytes,
    signature_to_bytes,
)
from payoutengine.localchain import DEV_KEY, DEV_PUBLIC_KEY


def _k1_private(key: PrivateKey) -> str:
    raw = base58.b58decode(key.to_wif())[1:33]
    check = hashlib.new("ripemd160", raw + b"K1").digest()[:4]
    return "PVT_K1_" + base58.b58encode(raw + check).decode()


def test_dev_key_public_key() -> None:
    assert DEV_KEY.public_key == DEV_PUBLIC_KEY
    assert DEV_KEY.public_key_k1 == "PUB_K1_6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5BoDq63"
    assert public_key_to_bytes(DEV_KEY.public_key) == public_key_to_bytes(DEV_KEY.public_key_k1)
    assert public_key_from_bytes(DEV_KEY.public_key_bytes, legacy=False) == DEV_KEY.public_key_k1


def test_pvt_k1_form_is_the_same_key() -> None:
    assert PrivateKey(_k1_private(DEV_KEY)) == DEV_KEY


def test_repr_never_shows_the_secret() -> None:
    wif = DEV_KEY.to_wif()
    assert wif not in repr(DEV_KEY) and wif not in str(DEV_KEY)
    assert DEV_PUBLIC_KEY in repr(DEV_KEY)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(DEV_KEY.to_wif()[:-1] + "4", id="bad-checksum"),  # last digit changed
        pytest.param("PVT_K1_abc", id="short-k1"),
        pytest.param("not a key", id="garbage"),
    ],
)
def test_bad_keys(text: str) -> None:
    with pytest.raises(KeyFileError) as exc:
        PrivateKey(text)
    assert str(exc.value).endswith(".")


def test_signature_is_canonical_k1() -> None:
    sig = DEV_KEY.sign_digest_preimage(b"payload")
    assert sig.startswith("SIG_K1_")
    assert len(signature_to_bytes(sig)) == 65
    # deterministic (RFC 6979 nonces)
    assert DEV_KEY.sign_digest_preimage(b"payload") == sig


def test_signatures_recover_the_public_key_and_are_canonical() -> None:
    """Half of all raw signatures break the chain's canonical rule; none of ours may."""
    import hashlib

    import coincurve

    from payoutengine.keys import is_canonical

    for i in range(300):
        preimage = f"transaction {i}".encode()
        raw = signature_to_bytes(DEV_KEY.sign_digest_preimage(preimage))
        assert is_canonical(raw)
        recoverable = raw[1:] + bytes([raw[0] - 31])
        public = coincurve.PublicKey.from_signature_and_message(
            recoverable, hashlib.sha256(preimage).digest(), hasher=None
        )
        assert public.format(compressed=True) == DEV_KEY.public_key_bytes


def test_own_nonce_path_matches_libsecp256k1() -> None:
    """The retry path computes RFC 6979 nonces and ECDSA itself: without additional data it
    must give exactly libsecp256k1's signature when that one is canonical, and refuse the
    digests whose r (or s) is not."""
    import coincurve

    from payoutengine.keys import _rfc6979_nonce, _sign_with_nonce, is_canonical

    secret = base58.b58decode(DEV_KEY.to_wif())[1:33]
    d = int.from_bytes(secret, "big")
    signer = coincurve.PrivateKey(secret)
    seen = {True: 0, False: 0}
    for i in range(200):
        digest = hashlib.sha256(f"digest {i}".encode()).digest()
        sig = signer.sign_recoverable(digest, hasher=None)
        theirs = bytes([sig[64] + 31]) + sig[:64]
        ours = _sign_with_nonce(d, digest, _rfc6979_nonce(secret, digest, b""))
        seen[is_canonical(theirs)] += 1
        assert ours == (theirs if is_canonical(theirs) else None), i
    assert seen[True] > 50 and seen[False] > 50  # both paths were exercised


def test_is_canonical_rejects_high_and_padded_components() -> None:
    from payoutengine.keys import is_canonical

    good = bytes([32]) + b"\x11" * 32 + b"\x22" * 32
    assert is_canonical(good)
    assert not is_canonical(bytes([32]) + b"\x91" + b"\x11" * 31 + b"\x22" * 32)  # high r
    assert not is_canonical(bytes([32]) + b"\x11" * 32 + b"\x81" + b"\x22" * 31)  # high s
    assert not is_canonical(bytes([32]) + b"\x00\x11" + b"\x11" * 30 + b"\x22" * 32)  # padded


def test_load_key_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PE_TEST_KEY", DEV_KEY.to_wif())
    assert load_key("PE_TEST_KEY", None) == DEV_KEY
    f = tmp_path / "key"
    f.write_text("\n" + _k1_private(DEV_KEY) + "\n")
    f.chmod(0o600)
    assert load_key(None, f) == DEV_KEY
    # The variable wins when it is set; an empty one falls back to the file.
    other = PrivateKey.generate()
    monkeypatch.setenv("PE_TEST_KEY", other.to_wif())
    assert load_key("PE_TEST_KEY", f) == other
    monkeypatch.setenv("PE_TEST_KEY", "")
    assert load_key("PE_TEST_KEY", f) == DEV_KEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    f = tmp_path / "payer.key"
    f.write_text(DEV_KEY.to_wif() + "\n")
    f.chmod(mode)
    with pytest.raises(KeyFileError) as exc:
        load_key(None, f)
    assert str(exc.value) == (
        f"The key file {f} can be read by other users (mode {mode:04o}); run 'chmod 600 {f}'."
    )
    assert DEV_KEY.to_wif() not in str(exc.value)


def test_load_key_errors_are_sentences_without_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PE_MISSING", raising=False)
    with pytest.raises(KeyFileError, match="PE_MISSING is not set"):
        load_key("PE_MISSING", None)
    with pytest.raises(KeyFileError, match="cannot be read"):
        load_key(None, tmp_path / "nope")
    with pytest.raises(KeyFileError, match="PE_MISSING is not set"):
        load_key("PE_MISSING", None)
    bad = DEV_KEY.to_wif()[:-1] + "4"  # the development key with a wrong checksum
    monkeypatch.setenv("PE_BAD", bad)
    with pytest.raises(KeyFileError) as exc:
        load_key("PE_BAD", None)
    assert bad not in str(exc.value)
    with pytest.raises(KeyFileError):
        load_key(None, None)


def test_public_key_in_abi_both_forms() -> None:
    abi = Abi(NATIVE_ABI)
    a = abi.encode("key_weight", {"key": DEV_PUBLIC_KEY, "weight": 1})
    b = abi.encode("key_weight", {"key": DEV_KEY.public_key_k1, "weight": 1})
    assert a == b and len(a) == 1 + 33 + 2
    assert abi.decode("key_weight", a) == {"key": DEV_PUBLIC_KEY, "weight": 1}
