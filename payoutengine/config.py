"""Reading a program's configuration: one TOML file, then environment overrides.

Both programs (``payoutengine admin`` and ``payoutengine sync``) describe their options as
frozen dataclasses, one per ``[section]``, and load them through :func:`load_sections`.
The rules are the same for both:

- Every option of ``[section]`` can be overridden by the environment variable
  ``PAYOUTENGINE_<SECTION>_<OPTION>`` (upper case), e.g. ``PAYOUTENGINE_CHAIN_ENDPOINTS``.
  Lists are comma-separated there; booleans are ``true/false``, ``yes/no``, ``on/off`` or
  ``1/0``.
- A variable that is set but **empty counts as not set**: the file's value (or the default)
  stays. To clear a text option, set it in the file.
- A relative SQLite path (``sqlite:///name.sqlite``) and a relative ``*_file`` path are
  relative to the directory of the configuration file, wherever the value came from (to the
  working directory when there is no file).
- A private key is never part of the file: a section with a ``key_env`` option refuses options
  such as ``key`` or ``private_key``.
- An unknown section or option, or a value of the wrong type, raises
  :class:`~payoutengine.errors.ConfigError` with one sentence saying what to fix.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import ConfigError

__all__ = ["ENV_PREFIX", "env_name", "load_sections", "read_toml", "resolve_sqlite_url"]

ENV_PREFIX = "PAYOUTENGINE_"

#: option names that would hold a secret; refused in any section that has ``key_env``.
_SECRET_OPTIONS = frozenset({"key", "private_key", "wif", "secret", "password"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SQLITE_RE = re.compile(r"^(sqlite(?:\+\w+)?:///)([^?]*)(\?.*)?$")
_MISSING = object()


def env_name(section: str, option: str) -> str:
    """The environment variable that overrides ``[section] option``."""
    return f"{ENV_PREFIX}{section}_{option}".upper()


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; ConfigError when it is missing, unreadable or not TOML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"The config file {path} does not exist; create it or point --config at the right file."
        ) from None
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read: {exc.strerror}.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML: {exc}.") from None


def resolve_sqlite_url(url: str, base: Path) -> str:
    """``url`` with a relative SQLite file path made absolute against ``base``."""
    m = _SQLITE_RE.match(url)
    if m is None:
        return url
    prefix, db, query = m.group(1), m.group(2), m.group(3) or ""
    if not db or db.startswith("/") or db == ":memory:" or db.startswith("file:"):
        return url
    return f"{prefix}{(base / db).as_posix()}{query}"


def _optional_inner(typ: Any) -> Any | None:
    """``X`` for ``X | None``, else None."""
    if get_origin(typ) in (Union, types.UnionType):
        args = [a for a in get_args(typ) if a is not type(None)]
        if len(args) == 1 and len(get_args(typ)) == 2:
            return args[0]
    return None


def _describe(typ: Any) -> str:
    if typ is bool:
        return "true or false"
    if typ is int:
        return "an integer"
    if typ is float:
        return "a number"
    if get_origin(typ) in (list, tuple):
        return 'a list of strings, e.g. ["a", "b"]'
    return "a string"


def _convert(typ: Any, value: Any, *, where: str, from_env: bool) -> Any:
    inner = _optional_inner(typ)
    if inner is not None:
        typ = inner
    if get_origin(typ) is Literal:
        typ = str  # the program checks the allowed values with its own explanation
    ok: Any = _MISSING
    if typ is bool:
        if isinstance(value, bool):
            ok = value
        elif from_env and value.strip().lower() in _TRUE | _FALSE:
            ok = value.strip().lower() in _TRUE
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            ok = value
        elif from_env and re.fullmatch(r"\s*-?\d+\s*", value):
            ok = int(value)
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            ok = float(value)
        elif from_env:
            try:
                ok = float(value)
            except ValueError:
                pass
    elif typ is str or typ is Path:
        if isinstance(value, str):
            ok = Path(value) if typ is Path else value
    elif get_origin(typ) in (list, tuple):
        items = [v.strip() for v in value.split(",") if v.strip()] if from_env else value
        if isinstance(items, list) and all(isinstance(v, str) for v in items):
            ok = tuple(items) if get_origin(typ) is tuple else list(items)
    else:  # pragma: no cover - a programming error in a config dataclass
        raise TypeError(f"unsupported option type {typ!r}")
    if ok is _MISSING:
        raise ConfigError(f"{where} must be {_describe(typ)}, not {value!r}.")
    return ok


def _resolve_paths(obj: Any, base: Path) -> Any:
    """``obj`` with its relative SQLite URLs and ``*_file`` paths (defaults included) made
    absolute against ``base``."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, str) and value.startswith("sqlite"):
            resolved = resolve_sqlite_url(value, base)
            if resolved != value:
                changes[f.name] = resolved
        elif f.name.endswith("_file") and value and not Path(value).is_absolute():
            path = base / value
            changes[f.name] = path if isinstance(value, Path) else str(path)
    return dataclasses.replace(obj, **changes) if changes else obj


def _build(
    section: str,
    cls: type,
    raw: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    origin: str,
    base: Path,
) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for option in raw:
        if option in _SECRET_OPTIONS and "key_env" in fields:
            raise ConfigError(
                f"The config file must not hold the private key: put it in the environment "
                f"variable named by [{section}] key_env, or in a file of mode 0600 named by "
                f"[{section}] key_file."
            )
        if option not in fields:
            raise ConfigError(
                f"Unknown option {option!r} in [{section}] of {origin}; the options are "
                f"{', '.join(fields)}."
            )
    values: dict[str, Any] = {}
    for name in fields:
        var = env_name(section, name)
        if env.get(var, "") != "":
            values[name] = _convert(hints[name], env[var], where=var, from_env=True)
        elif name in raw:
            where = f"[{section}] {name} in {origin}"
            values[name] = _convert(hints[name], raw[name], where=where, from_env=False)
    for name, f in fields.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default and name not in values:
            raise ConfigError(
                f"[{section}] {name} is missing; set it in the config file or with "
                f"{env_name(section, name)}."
            )
    return _resolve_paths(cls(**values), base)


def load_sections(
    path: Path | None,
    sections: Mapping[str, type],
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Read ``path`` (None: the environment only), apply the overrides of ``env`` (default
    ``os.environ``) and build one dataclass instance per entry of ``sections``.

    Only types and the rules above are checked here; each program validates its combinations.
    """
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    origin = "the environment"
    base = Path.cwd()
    if path is not None:
        raw = read_toml(path)
        origin = str(path)
        base = path.resolve().parent
    for name, value in raw.items():
        if name not in sections:
            raise ConfigError(
                f"Unknown section [{name}] in {origin}; the sections are {', '.join(sections)}."
            )
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] in {origin} must be a table of options, not a value.")
    return {
        name: _build(name, cls, raw.get(name, {}), env, origin=origin, base=base)
        for name, cls in sections.items()
    }
