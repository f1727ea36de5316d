"""A binary serializer driven by an ABI (the JSON ``/v1/chain/get_abi`` returns).

``Abi(abi_json).encode(type, value) -> bytes`` and ``.decode(type, data) -> value``. Values use
the node's JSON representation (names, assets and symbols as strings, bytes and checksums as
hex, times as ISO strings), except that integers of every width decode to Python ``int``.
Encoding also accepts :class:`~payoutengine.amounts.Asset`, ``Symbol``, ``bytes`` and
``datetime`` values, and decimal strings for integers.

Type grammar: builtins, ``T[]`` (array), ``T?`` (optional), ``T$`` (binary extension: may be
absent at the end of a struct), aliases (``types``), structs with ``base``, variants.

Built-in ABIs: :data:`NATIVE_ABI` (the ``eosio`` actions a fresh chain has no ABI for, the
``authority`` structs and the transaction layout) and :data:`ABI_DEF_ABI` (the schema that
``setabi`` expects the ABI to be serialized with, see :func:`pack_abi`).
"""

from __future__ import annotations

import calendar
import functools
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .amounts import Asset, Symbol, symbol_code_from_raw, symbol_code_to_raw
from .chaintime import parse_chain_time
from .errors import AbiError, AmountError, ChainError, KeyFileError
from .keys import (
    public_key_from_bytes,
    public_key_to_bytes,
    signature_from_bytes,
    signature_to_bytes,
)

__all__ = [
    "ABI_DEF_ABI",
    "NATIVE_ABI",
    "Abi",
    "int_to_name",
    "name_to_int",
    "pack_abi",
    "unpack_abi",
    "varuint32",
]

_NAME_CHARS = ".12345abcdefghijklmnopqrstuvwxyz"
_NAME_RE = re.compile(r"[a-z1-5.]{0,12}[a-j1-5.]?")
_NAME_VALUES = {ch: i for i, ch in enumerate(_NAME_CHARS)}
#: names kept converted: the contract's, its actions', permissions' and tokens' recur; a
#: recipient's name seldom does, and a million of them must not fill the cache (memory).
NAME_CACHE = 4096


@functools.lru_cache(maxsize=NAME_CACHE)
def name_to_int(name: str) -> int:
    """The uint64 value of an account/action name.

    Valid names are up to 12 characters of ``a-z``, ``1-5`` and ``.``, optionally followed by a
    13th character from ``a-j``, ``1-5`` or ``.``, and do not end in ``.``. ``""`` is 0.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name.endswith("."):
        raise AbiError(
            f"The name {name!r} is not valid: use up to 12 characters a-z, 1-5 and '.', "
            "not ending in '.' (a 13th character may be a-j or 1-5)."
        )
    value = 0
    for i, ch in enumerate(name[:12]):
        value |= _NAME_VALUES[ch] << (59 - 5 * i)
    if len(name) == 13:
        value |= _NAME_VALUES[name[12]] & 0x0F
    return value


@functools.lru_cache(maxsize=NAME_CACHE)
def int_to_name(value: int) -> str:
    """The text of a uint64 name value (inverse of :func:`name_to_int`)."""
    if not 0 <= value < 1 << 64:
        raise AbiError(f"The value {value} does not fit a name (uint64).")
    chars = [_NAME_CHARS[(value >> (59 - 5 * i)) & 0x1F] for i in range(12)]
    chars.append(_NAME_CHARS[value & 0x0F])
    return "".join(chars).rstrip(".")


# ---------------------------------------------------------------------------------------------
# Time helpers (integer arithmetic only)

_EPOCH_BLOCK_MS = 946684800000  # 2000-01-01T00:00:00Z, the block_timestamp epoch


def _parse_time_us(value: Any) -> int:
    """Microseconds since the Unix epoch from an ISO string, datetime or integer seconds."""
    if isinstance(value, str):
        try:
            value = parse_chain_time(value)
        except ChainError as exc:
            raise AbiError(str(exc)) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        secs = calendar.timegm(value.utctimetuple())
        return secs * 1_000_000 + value.microsecond
    raise AbiError(f"The value {value!r} is not a time.")


def _format_time_us(us: int, *, millis: bool) -> str:
    secs, rest = divmod(us, 1_000_000)
    text = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{rest // 1000:03d}" if millis else text


# ---------------------------------------------------------------------------------------------
# Reader / writer


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise AbiError(
                f"The data ends after {len(self.data)} bytes but {self.pos + n} are needed."
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def varuint32(self) -> int:
        value = shift = 0
        while True:
            b = self.read(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 35:
                raise AbiError("A varuint32 in the data is longer than 5 bytes.")
        return value


def varuint32(value: int) -> bytes:
    """The chain's variable-length encoding of an unsigned 32-bit integer (lengths, counts)."""
    if not 0 <= value < 1 << 32:
        raise AbiError(f"The value {value} does not fit a varuint32.")
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _to_int(value: Any, type_name: str) -> int:
    if isinstance(value, bool):
        raise AbiError(f"A {type_name} cannot be a bool.")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            pass
    raise AbiError(f"The value {value!r} is not an integer for type {type_name}.")


_INT_TYPES: dict[str, tuple[int, bool]] = {
    "int8": (1, True),
    "uint8": (1, False),
    "int16": (2, True),
    "uint16": (2, False),
    "int32": (4, True),
    "uint32": (4, False),
    "int64": (8, True),
    "uint64": (8, False),
    "int128": (16, True),
    "uint128": (16, False),
}


def _hex(value: Any, type_name: str, size: int | None = None) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, str):
        try:
            raw = bytes.fromhex(value)
        except ValueError as exc:
            raise AbiError(f"The value for {type_name} is not a hex string.") from exc
    else:
        raise AbiError(f"The value {value!r} for {type_name} is neither bytes nor hex.")
    if size is not None and len(raw) != size:
        raise AbiError(f"A {type_name} has {size} bytes, not {len(raw)}.")
    return raw


def _encode_asset(value: Any) -> bytes:
    if isinstance(value, str):
        value = Asset.parse(value, allow_negative=True)
    if not isinstance(value, Asset):
        raise AbiError(f"The value {value!r} is not an asset like '1.0000 TST'.")
    return struct.pack("<qQ", value.amount, value.symbol.raw)


def _decode_asset(r: _Reader) -> str:
    amount, raw = struct.unpack("<qQ", r.read(16))
    return str(Asset(amount, Symbol.from_raw(raw)))


def _encode_symbol(value: Any) -> bytes:
    sym = Symbol.parse(value) if isinstance(value, str) else value
    if not isinstance(sym, Symbol):
        raise AbiError(f"The value {value!r} is not a symbol like '4,TST'.")
    return struct.pack("<Q", sym.raw)


_Enc = Callable[[Any], bytes]
_Dec = Callable[[_Reader], Any]


def _builtin_table() -> dict[str, tuple[_Enc, _Dec]]:
    table: dict[str, tuple[_Enc, _Dec]] = {}
    for tname, (size, signed) in _INT_TYPES.items():

        def enc(v: Any, size: int = size, signed: bool = signed, tname: str = tname) -> bytes:
            n = _to_int(v, tname)
            try:
                return n.to_bytes(size, "little", signed=signed)
            except OverflowError:
                raise AbiError(f"The value {n} does not fit a {tname}.") from None

        def dec(r: _Reader, size: int = size, signed: bool = signed) -> int:
            return int.from_bytes(r.read(size), "little", signed=signed)

        table[tname] = (enc, dec)

    def enc_bool(v: Any) -> bytes:
        if not isinstance(v, bool):
            raise AbiError(f"The value {v!r} is not a bool.")
        return b"\x01" if v else b"\x00"

    def dec_bool(r: _Reader) -> bool:
        b = r.read(1)[0]
        if b > 1:
            raise AbiError(f"A bool in the data has the value {b}.")
        return b == 1

    def enc_varint32(v: Any) -> bytes:
        n = _to_int(v, "varint32")
        if not -(1 << 31) <= n < 1 << 31:
            raise AbiError(f"The value {n} does not fit a varint32.")
        return varuint32(((n << 1) ^ (n >> 31)) & 0xFFFFFFFF)

    def dec_varint32(r: _Reader) -> int:
        u = r.varuint32()
        return (u >> 1) ^ -(u & 1)

    def enc_float64(v: Any) -> bytes:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise AbiError(f"The value {v!r} is not a float64.")
        return struct.pack("<d", float(v))

    def enc_string(v: Any) -> bytes:
        if not isinstance(v, str):
            raise AbiError(f"The value {v!r} is not a string.")
        raw = v.encode("utf-8")
        return varuint32(len(raw)) + raw

    def dec_string(r: _Reader) -> str:
        raw = r.read(r.varuint32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AbiError("A string in the data is not valid UTF-8.") from exc

    def enc_bytes(v: Any) -> bytes:
        raw = _hex(v, "bytes")
        return varuint32(len(raw)) + raw

    def enc_name(v: Any) -> bytes:
        return struct.pack("<Q", name_to_int(v) if isinstance(v, str) else _to_int(v, "name"))

    def enc_symbol_code(v: Any) -> bytes:
        try:
            return struct.pack("<Q", symbol_code_to_raw(v))
        except AmountError as exc:
            raise AbiError(str(exc)) from exc

    def enc_extended_asset(v: Any) -> bytes:
        if not isinstance(v, Mapping):
            raise AbiError(f"An extended_asset is {{quantity, contract}}, not {v!r}.")
        return _encode_asset(v["quantity"]) + enc_name(v["contract"])

    def enc_tps(v: Any) -> bytes:
        us = v * 1_000_000 if isinstance(v, int) else _parse_time_us(v)
        return struct.pack("<I", us // 1_000_000)

    def enc_tp(v: Any) -> bytes:
        return struct.pack("<q", v if isinstance(v, int) else _parse_time_us(v))

    def enc_bts(v: Any) -> bytes:
        if isinstance(v, int):
            return struct.pack("<I", v)
        return struct.pack("<I", (_parse_time_us(v) // 1000 - _EPOCH_BLOCK_MS) // 500)

    def enc_pubkey(v: Any) -> bytes:
        try:
            return b"\x00" + public_key_to_bytes(v)
        except KeyFileError as exc:
            raise AbiError(str(exc)) from exc

    def dec_pubkey(r: _Reader) -> str:
        if r.read(1)[0] != 0:
            raise AbiError("Only K1 public keys are supported.")
        return public_key_from_bytes(r.read(33), legacy=True)

    def enc_sig(v: Any) -> bytes:
        try:
            return b"\x00" + signature_to_bytes(v)
        except KeyFileError as exc:
            raise AbiError(str(exc)) from exc

    def dec_sig(r: _Reader) -> str:
        if r.read(1)[0] != 0:
            raise AbiError("Only K1 signatures are supported.")
        return signature_from_bytes(r.read(65))

    u64 = struct.Struct("<Q")
    table.update(
        {
            "bool": (enc_bool, dec_bool),
            "varuint32": (lambda v: varuint32(_to_int(v, "varuint32")), _Reader.varuint32),
            "varint32": (enc_varint32, dec_varint32),
            "float64": (enc_float64, lambda r: struct.unpack("<d", r.read(8))[0]),
            "string": (enc_string, dec_string),
            "bytes": (enc_bytes, lambda r: r.read(r.varuint32()).hex()),
            "name": (enc_name, lambda r: int_to_name(u64.unpack(r.read(8))[0])),
            "symbol": (_encode_symbol, lambda r: str(Symbol.from_raw(u64.unpack(r.read(8))[0]))),
            "symbol_code": (
                enc_symbol_code,
                lambda r: symbol_code_from_raw(u64.unpack(r.read(8))[0]),
            ),
            "asset": (_encode_asset, _decode_asset),
            "extended_asset": (
                enc_extended_asset,
                lambda r: {
                    "quantity": _decode_asset(r),
                    "contract": int_to_name(u64.unpack(r.read(8))[0]),
                },
            ),
            "checksum160": (lambda v: _hex(v, "checksum160", 20), lambda r: r.read(20).hex()),
            "checksum256": (lambda v: _hex(v, "checksum256", 32), lambda r: r.read(32).hex()),
            "checksum512": (lambda v: _hex(v, "checksum512", 64), lambda r: r.read(64).hex()),
            "time_point_sec": (
                enc_tps,
                lambda r: _format_time_us(
                    struct.unpack("<I", r.read(4))[0] * 1_000_000, millis=False
                ),
            ),
            "time_point": (
                enc_tp,
                lambda r: _format_time_us(struct.unpack("<q", r.read(8))[0], millis=True),
            ),
            "block_timestamp_type": (
                enc_bts,
                lambda r: _format_time_us(
                    (struct.unpack("<I", r.read(4))[0] * 500 + _EPOCH_BLOCK_MS) * 1000,
                    millis=True,
                ),
            ),
            "public_key": (enc_pubkey, dec_pubkey),
            "signature": (enc_sig, dec_sig),
        }
    )
    return table


_BUILTINS = _builtin_table()


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    type: str


class _Bad(AbiError):
    """An encoding error on its way up to :meth:`Abi.encode`, which names the place."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = [where] if where else []


_LEAF_ERRORS = (AbiError, AmountError, KeyFileError)


def _located(exc: Exception, where: str, type_name: str) -> _Bad:
    """``exc`` raised by the encoder of ``where``, as a :class:`_Bad` carrying that place."""
    if isinstance(exc, _Bad):
        exc.path.insert(0, where)
        return exc
    return _Bad(f"({type_name}) is invalid: {exc}", where)


class Abi:
    """An ABI ready to serialize: ``Abi(get_abi_response["abi"])``.

    Each type's encoder and decoder is built once, at its first use, from the ABI's structs,
    aliases and variants, and reused for every value after that.
    """

    def __init__(self, abi: Mapping[str, Any]) -> None:
        self.raw = abi
        self.aliases: dict[str, str] = {t["new_type_name"]: t["type"] for t in abi.get("types", [])}
        self.structs: dict[str, tuple[str, list[_Field]]] = {
            s["name"]: (
                s.get("base", "") or "",
                [_Field(f["name"], f["type"]) for f in s["fields"]],
            )
            for s in abi.get("structs", [])
        }
        self.variants: dict[str, list[str]] = {
            v["name"]: list(v["types"]) for v in abi.get("variants", []) or []
        }
        self.actions: dict[str, str] = {a["name"]: a["type"] for a in abi.get("actions", [])}
        self.tables: dict[str, str] = {t["name"]: t["type"] for t in abi.get("tables", [])}
        self._encoders: dict[str, _Enc] = {}
        self._decoders: dict[str, _Dec] = {}

    # -- public API -----------------------------------------------------------------------

    def encode(self, type_name: str, value: Any) -> bytes:
        """Serialize ``value`` as ``type_name``."""
        encoder = self.encoder(type_name)
        try:
            return encoder(value)
        except _Bad as exc:
            raise AbiError(f"The value at {type_name}{''.join(exc.path)} {exc.reason}.") from exc
        except _LEAF_ERRORS as exc:
            raise AbiError(
                f"The value at {type_name} ({self._resolve(type_name)}) is invalid: {exc}"
            ) from exc

    def decode(self, type_name: str, data: bytes) -> Any:
        """Deserialize ``data`` as ``type_name``; all of ``data`` must be used."""
        decoder = self.decoder(type_name)
        r = _Reader(bytes(data))
        try:
            value = decoder(r)
        except AmountError as exc:
            raise AbiError(f"A value in the data of a {type_name} is invalid: {exc}") from exc
        if not r.at_end():
            raise AbiError(
                f"{len(r.data) - r.pos} bytes are left over after decoding a {type_name}."
            )
        return value

    def encoder(self, type_name: str) -> Callable[[Any], bytes]:
        """The encoder of ``type_name`` (built at the first call, then cached); its errors do
        not name the place in the value: :meth:`encode` does."""
        enc = self._encoders.get(type_name)
        if enc is None:
            enc = self._build_encoder(type_name)
        return enc

    def decoder(self, type_name: str) -> Callable[[_Reader], Any]:
        dec = self._decoders.get(type_name)
        if dec is None:
            dec = self._build_decoder(type_name)
        return dec

    def action_type(self, action: str) -> str:
        try:
            return self.actions[action]
        except KeyError:
            raise AbiError(f"The ABI has no action {action!r}.") from None

    def encode_action(self, action: str, data: Any) -> bytes:
        return self.encode(self.action_type(action), data)

    def decode_action(self, action: str, data: bytes) -> Any:
        return self.decode(self.action_type(action), data)

    def has_action(self, action: str) -> bool:
        return action in self.actions

    # -- building encoders and decoders ---------------------------------------------------

    def _resolve(self, type_name: str) -> str:
        seen = 0
        while type_name in self.aliases:
            type_name = self.aliases[type_name]
            seen += 1
            if seen > 32:
                raise AbiError(f"The type alias {type_name!r} is circular.")
        return type_name

    def _all_fields(self, struct_name: str) -> list[_Field]:
        base, fields = self.structs[struct_name]
        base = self._resolve(base) if base else ""
        if base:
            if base not in self.structs:
                raise AbiError(f"The base {base!r} of struct {struct_name!r} is not a struct.")
            return self._all_fields(base) + fields
        return fields

    def _build_encoder(self, type_name: str) -> _Enc:
        # A placeholder first, so that a type that contains itself (through an array or an
        # optional) refers to its own encoder once that is built.
        self._encoders[type_name] = lambda v: self._encoders[type_name](v)
        try:
            enc = self._make_encoder(self._resolve(type_name))
        except BaseException:
            del self._encoders[type_name]
            raise
        self._encoders[type_name] = enc
        return enc

    def _make_encoder(self, t: str) -> _Enc:
        if t.endswith("$"):
            return self.encoder(t[:-1])
        if t.endswith("?"):
            inner = self.encoder(t[:-1])

            def enc_optional(v: Any) -> bytes:
                return b"\x00" if v is None else b"\x01" + inner(v)

            return enc_optional
        if t.endswith("[]"):
            return self._array_encoder(t, t[:-2])
        if t in _BUILTINS:
            return _BUILTINS[t][0]
        if t in self.structs:
            return self._struct_encoder(t)
        if t in self.variants:
            return self._variant_encoder(t)
        raise AbiError(f"The type {t!r} is not in the ABI.")

    def _array_encoder(self, t: str, elem_type: str) -> _Enc:
        elem = self.encoder(elem_type)

        def enc_array(v: Any) -> bytes:
            if isinstance(v, (str, bytes, Mapping)) or not hasattr(v, "__iter__"):
                raise _Bad(f"must be a list for type {t}")
            items = v if isinstance(v, (list, tuple)) else list(v)
            try:
                return varuint32(len(items)) + b"".join([elem(x) for x in items])
            except _LEAF_ERRORS as exc:
                failed = next(i for i, x in enumerate(items) if _fails(elem, x))
                raise _located(exc, f"[{failed}]", elem_type) from exc

        return enc_array

    def _struct_encoder(self, t: str) -> _Enc:
        fields = self._all_fields(t)
        compiled = [(f.name, f.type, self.encoder(f.type)) for f in fields]
        plain = [c for c in compiled if not c[1].endswith("$")]
        extensions = [c for c in compiled if c[1].endswith("$")]
        known = frozenset(f.name for f in fields)

        def enc_struct(v: Any) -> bytes:
            if not isinstance(v, Mapping):
                raise _Bad(f"must be an object for struct {t}")
            parts: list[bytes] = []
            for name, type_name, enc in plain:
                try:
                    parts.append(enc(v[name]))
                except KeyError:
                    if name in v:
                        raise
                    raise _Bad(f"({type_name}) is missing", f".{name}") from None
                except _LEAF_ERRORS as exc:
                    raise _located(exc, f".{name}", type_name) from exc
            if len(v) != len(plain):
                unknown = sorted(set(v) - known)
                if unknown:
                    raise _Bad(f"has no field(s) {', '.join(unknown)} (struct {t})")
                skipping = False
                for name, type_name, enc in extensions:
                    if name not in v:
                        skipping = True
                        continue
                    if skipping:
                        raise _Bad("is set but an earlier one is not", f".{name}")
                    try:
                        parts.append(enc(v[name]))
                    except _LEAF_ERRORS as exc:
                        raise _located(exc, f".{name}", type_name) from exc
            return b"".join(parts)

        return enc_struct

    def _variant_encoder(self, t: str) -> _Enc:
        options = self.variants[t]
        encoders = {name: (varuint32(i), self.encoder(name)) for i, name in enumerate(options)}

        def enc_variant(v: Any) -> bytes:
            if not (isinstance(v, (list, tuple)) and len(v) == 2 and isinstance(v[0], str)):
                raise _Bad(f"must be [type, value] for variant {t}")
            if v[0] not in encoders:
                raise _Bad(f"is of type {v[0]!r}, which the variant {t} does not have")
            tag, enc = encoders[v[0]]
            return tag + enc(v[1])

        return enc_variant

    def _build_decoder(self, type_name: str) -> _Dec:
        self._decoders[type_name] = lambda r: self._decoders[type_name](r)
        try:
            dec = self._make_decoder(self._resolve(type_name))
        except BaseException:
            del self._decoders[type_name]
            raise
        self._decoders[type_name] = dec
        return dec

    def _make_decoder(self, t: str) -> _Dec:
        if t.endswith("$"):
            return self.decoder(t[:-1])
        if t.endswith("?"):
            inner = self.decoder(t[:-1])
            return lambda r: inner(r) if r.read(1)[0] else None
        if t.endswith("[]"):
            elem = self.decoder(t[:-2])
            return lambda r: [elem(r) for _ in range(r.varuint32())]
        if t in _BUILTINS:
            return _BUILTINS[t][1]
        if t in self.structs:
            fields = [
                (f.name, f.type.endswith("$"), self.decoder(f.type)) for f in self._all_fields(t)
            ]

            def dec_struct(r: _Reader) -> dict[str, Any]:
                result: dict[str, Any] = {}
                for name, extension, dec in fields:
                    if extension and r.at_end():
                        break
                    result[name] = dec(r)
                return result

            return dec_struct
        if t in self.variants:
            options = [(name, self.decoder(name)) for name in self.variants[t]]

            def dec_variant(r: _Reader) -> list[Any]:
                idx = r.varuint32()
                if idx >= len(options):
                    raise AbiError(f"The variant {t} has no option {idx}.")
                name, dec = options[idx]
                return [name, dec(r)]

            return dec_variant
        raise AbiError(f"The type {t!r} is not in the ABI.")


def _fails(enc: _Enc, value: Any) -> bool:
    try:
        enc(value)
    except _LEAF_ERRORS:
        return True
    return False


def _struct(name: str, fields: list[tuple[str, str]], base: str = "") -> dict[str, Any]:
    return {"name": name, "base": base, "fields": [{"name": n, "type": t} for n, t in fields]}


#: The native ``eosio`` actions (and the bios ``activate``), the authority structs, and the
#: transaction layout. A fresh chain has no ABI on ``eosio``; this one is used instead.
NATIVE_ABI: dict[str, Any] = {
    "version": "eosio::abi/1.1",
    "types": [],
    "structs": [
        _struct("permission_level", [("actor", "name"), ("permission", "name")]),
        _struct("key_weight", [("key", "public_key"), ("weight", "uint16")]),
        _struct(
            "permission_level_weight", [("permission", "permission_level"), ("weight", "uint16")]
        ),
        _struct("wait_weight", [("wait_sec", "uint32"), ("weight", "uint16")]),
        _struct(
            "authority",
            [
                ("threshold", "uint32"),
                ("keys", "key_weight[]"),
                ("accounts", "permission_level_weight[]"),
                ("waits", "wait_weight[]"),
            ],
        ),
        _struct(
            "newaccount",
            [
                ("creator", "name"),
                ("name", "name"),
                ("owner", "authority"),
                ("active", "authority"),
            ],
        ),
        _struct(
            "setcode",
            [("account", "name"), ("vmtype", "uint8"), ("vmversion", "uint8"), ("code", "bytes")],
        ),
        _struct("setabi", [("account", "name"), ("abi", "bytes")]),
        _struct(
            "updateauth",
            [
                ("account", "name"),
                ("permission", "name"),
                ("parent", "name"),
                ("auth", "authority"),
            ],
        ),
        _struct(
            "linkauth",
            [("account", "name"), ("code", "name"), ("type", "name"), ("requirement", "name")],
        ),
        _struct("activate", [("feature_digest", "checksum256")]),
        _struct(
            "action",
            [
                ("account", "name"),
                ("name", "name"),
                ("authorization", "permission_level[]"),
                ("data", "bytes"),
            ],
        ),
        _struct("extension", [("type", "uint16"), ("data", "bytes")]),
        _struct(
            "transaction_header",
            [
                ("expiration", "time_point_sec"),
                ("ref_block_num", "uint16"),
                ("ref_block_prefix", "uint32"),
                ("max_net_usage_words", "varuint32"),
                ("max_cpu_usage_ms", "uint8"),
                ("delay_sec", "varuint32"),
            ],
        ),
        _struct(
            "transaction",
            [
                ("context_free_actions", "action[]"),
                ("actions", "action[]"),
                ("transaction_extensions", "extension[]"),
            ],
            base="transaction_header",
        ),
    ],
    "actions": [
        {"name": a, "type": a, "ricardian_contract": ""}
        for a in ("newaccount", "setcode", "setabi", "updateauth", "linkauth", "activate")
    ],
    "tables": [],
}

#: The schema of ``abi_def``: ``setabi`` takes the ABI serialized with it.
ABI_DEF_ABI: dict[str, Any] = {
    "version": "eosio::abi/1.1",
    "types": [],
    "structs": [
        _struct("type_def", [("new_type_name", "string"), ("type", "string")]),
        _struct("field_def", [("name", "string"), ("type", "string")]),
        _struct("struct_def", [("name", "string"), ("base", "string"), ("fields", "field_def[]")]),
        _struct(
            "action_def", [("name", "name"), ("type", "string"), ("ricardian_contract", "string")]
        ),
        _struct(
            "table_def",
            [
                ("name", "name"),
                ("index_type", "string"),
                ("key_names", "string[]"),
                ("key_types", "string[]"),
                ("type", "string"),
            ],
        ),
        _struct("clause_pair", [("id", "string"), ("body", "string")]),
        _struct("error_message", [("error_code", "uint64"), ("error_msg", "string")]),
        _struct("extension", [("type", "uint16"), ("data", "bytes")]),
        _struct("variant_def", [("name", "string"), ("types", "string[]")]),
        _struct("action_result_def", [("name", "name"), ("result_type", "string")]),
        _struct(
            "abi_def",
            [
                ("version", "string"),
                ("types", "type_def[]"),
                ("structs", "struct_def[]"),
                ("actions", "action_def[]"),
                ("tables", "table_def[]"),
                ("ricardian_clauses", "clause_pair[]"),
                ("error_messages", "error_message[]"),
                ("abi_extensions", "extension[]"),
                ("variants", "variant_def[]$"),
                ("action_results", "action_result_def[]$"),
            ],
        ),
    ],
    "actions": [],
    "tables": [],
}

_ABI_DEF = Abi(ABI_DEF_ABI)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "struct_def": {"base": ""},
    "action_def": {"ricardian_contract": ""},
    "table_def": {"index_type": "i64", "key_names": [], "key_types": []},
}


def pack_abi(abi: Mapping[str, Any]) -> bytes:
    """Serialize an ABI JSON document with the ``abi_def`` schema, as ``setabi`` expects.

    Missing lists are filled with ``[]`` and unknown top-level keys are dropped, so an ABI file
    in any 1.x version packs.
    """
    doc: dict[str, Any] = {"version": abi.get("version", "eosio::abi/1.1")}
    for key in (
        "types",
        "structs",
        "actions",
        "tables",
        "ricardian_clauses",
        "error_messages",
        "abi_extensions",
        "variants",
        "action_results",
    ):
        doc[key] = list(abi.get(key) or [])
    for key, elem in (
        ("structs", "struct_def"),
        ("actions", "action_def"),
        ("tables", "table_def"),
    ):
        doc[key] = [{**_DEFAULTS[elem], **item} for item in doc[key]]
    return _ABI_DEF.encode("abi_def", doc)


def unpack_abi(data: bytes) -> dict[str, Any]:
    """Inverse of :func:`pack_abi`."""
    result: dict[str, Any] = _ABI_DEF.decode("abi_def", data)
    return result
