r"""Unit names: validity, templates and instances, and systemd's escaping (systemd.unit(5)).

Why a module of its own: a unit's name decides its type, whether it is a template, which
template file an instance loads from, what ``%i``/``%I``/``%f`` expand to, and which unit a
path (a mount point, a device) belongs to. All of that must match systemd byte for byte, or
``Wants=dep@%i.service`` pulls in a different unit than real systemd would. The rules here
follow systemd 252's ``unit-name.c`` and were checked against the real ``systemd-escape``
(``tests/conformance/test_escape.py``):

* A name is ``prefix[@instance].type``, at most 255 bytes, the type one of :data:`UNIT_TYPES`.
  The part before the last dot may only hold ASCII letters, digits and ``:-_.\@``; the first
  ``@`` splits prefix and instance, and the prefix must not be empty.
* Escaping turns ``/`` into ``-`` and every other byte outside ``[A-Za-z0-9:_.]`` (and ``-``,
  ``\``) into ``\xNN`` with lowercase hex, per byte of the UTF-8 encoding; a leading ``.`` is
  escaped too, so no unit name starts with a dot.
* Path escaping first simplifies the path (``//`` and ``.`` components go), refuses ``..``,
  and drops leading and trailing slashes; the root directory becomes ``-``.
* Unescaping turns ``-`` into ``/`` and ``\xNN`` (either case of hex digits) into the byte;
  any other backslash is an error.

Strings are ``str``; bytes that are not UTF-8 travel as lone surrogates (``surrogateescape``),
so that unescaping ``\xff`` and escaping it again gives back ``\xff``.
"""

from __future__ import annotations

import enum
from typing import ClassVar

from bootup.errors import UnitSyntaxError

__all__ = (
    "PATH_MAX",
    "UNIT_NAME_MAX",
    "UNIT_TYPES",
    "NameKind",
    "UnitNameError",
    "build_name",
    "escape",
    "is_valid_instance",
    "is_valid_name",
    "is_device_path",
    "mangle",
    "name_from_path",
    "name_kind",
    "path_escape",
    "path_is_normalized",
    "path_is_valid",
    "path_simplify",
    "path_unescape",
    "replace_instance",
    "split_name",
    "template_of",
    "unescape",
    "unit_instance",
    "unit_prefix",
    "unit_type",
)

#: The longest unit name (systemd's UNIT_NAME_MAX is 256 including the terminating NUL).
UNIT_NAME_MAX = 255
#: The longest path (PATH_MAX 4096 including the NUL); each component at most 255 bytes.
PATH_MAX = 4095
_NAME_MAX = 255

#: Unit types systemd 252 knows, in its own order (unit-def.c).
UNIT_TYPES: tuple[str, ...] = (
    "service",
    "mount",
    "swap",
    "socket",
    "target",
    "device",
    "automount",
    "timer",
    "path",
    "slice",
    "scope",
)

_LETTERS_DIGITS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_VALID_CHARS = _LETTERS_DIGITS | frozenset(b":-_.\\")
_VALID_CHARS_WITH_AT = _VALID_CHARS | frozenset(b"@")
_HEX = "0123456789abcdef"


class UnitNameError(UnitSyntaxError):
    """A unit name, instance or path cannot be used or converted.

    Attributes:
        name: the offending input.
        reason: what is wrong with it, in words.
        errno_text: how systemd reports the same failure (its strerror text).
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, name: str, reason: str, errno_text: str = "Invalid argument") -> None:
        super().__init__(f"{reason}: {name!r}")
        self.name = name
        self.reason = reason
        self.errno_text = errno_text


class NameKind(enum.Flag):
    """What kind of unit name a string is; also used as the set of kinds a check accepts."""

    PLAIN = enum.auto()
    TEMPLATE = enum.auto()
    INSTANCE = enum.auto()
    ANY = PLAIN | TEMPLATE | INSTANCE


def _b(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _s(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def name_kind(name: str) -> NameKind | None:
    """Classify ``name`` as systemd's ``unit_name_is_valid()`` does; ``None`` if invalid."""
    raw = _b(name)
    if not raw or len(raw) > UNIT_NAME_MAX:
        return None
    dot = raw.rfind(b".")
    if dot <= 0:
        return None
    if _s(raw[dot + 1 :]) not in UNIT_TYPES:
        return None
    stem = raw[:dot]
    if any(byte not in _VALID_CHARS_WITH_AT for byte in stem):
        return None
    at = stem.find(b"@")
    if at == 0:
        return None
    if at < 0:
        return NameKind.PLAIN
    if at + 1 == len(stem):
        return NameKind.TEMPLATE
    return NameKind.INSTANCE


def is_valid_name(name: str, kinds: NameKind = NameKind.ANY) -> bool:
    """Tell whether ``name`` is a valid unit name of one of ``kinds``."""
    kind = name_kind(name)
    return kind is not None and bool(kind & kinds)


def is_valid_instance(instance: str) -> bool:
    """Tell whether ``instance`` may stand between ``@`` and the type (non-empty, safe bytes)."""
    raw = _b(instance)
    return bool(raw) and all(byte in _VALID_CHARS_WITH_AT for byte in raw)


def _require(name: str, kinds: NameKind = NameKind.ANY) -> NameKind:
    kind = name_kind(name)
    if kind is None or not kind & kinds:
        raise UnitNameError(name, "Invalid unit name")
    return kind


def split_name(name: str) -> tuple[str, str | None, str]:
    """Split a valid unit name into ``(prefix, instance, type)``.

    ``instance`` is ``None`` for a plain name and ``""`` for a template.

    Raises:
        UnitNameError: ``name`` is not a valid unit name.
    """
    _require(name)
    stem, _, suffix = name.rpartition(".")
    prefix, at, instance = stem.partition("@")
    return prefix, (instance if at else None), suffix


def unit_type(name: str) -> str:
    """The type of a valid unit name (``service``, ``socket``, ...)."""
    return split_name(name)[2]


def unit_prefix(name: str) -> str:
    """The part before ``@`` (or before the type suffix): ``%p``."""
    return split_name(name)[0]


def unit_instance(name: str) -> str | None:
    """The instance of ``foo@bar.service`` (``bar``), ``""`` for a template, else ``None``."""
    return split_name(name)[1]


def template_of(name: str) -> str:
    """The template an instance or template loads from: ``foo@bar.service`` -> ``foo@.service``.

    Raises:
        UnitNameError: ``name`` is not an instance or template name.
    """
    _require(name, NameKind.INSTANCE | NameKind.TEMPLATE)
    prefix, _, suffix = split_name(name)
    return f"{prefix}@.{suffix}"


def build_name(prefix: str, instance: str | None, suffix: str) -> str:
    """Build ``prefix[@instance].suffix`` and check that the result is valid.

    Raises:
        UnitNameError: the parts do not make a valid unit name.
    """
    name = f"{prefix}@{instance}.{suffix}" if instance is not None else f"{prefix}.{suffix}"
    _require(name)
    return name


def replace_instance(template: str, instance: str) -> str:
    """Put ``instance`` into a template or instance name (``unit_name_replace_instance()``).

    Raises:
        UnitNameError: ``template`` is not a template or instance name, ``instance`` holds
            bytes not allowed in a unit name, or the result exceeds 255 bytes.
    """
    _require(template, NameKind.INSTANCE | NameKind.TEMPLATE)
    if not is_valid_instance(instance):
        raise UnitNameError(instance, "Invalid instance")
    prefix, _, suffix = split_name(template)
    result = f"{prefix}@{instance}.{suffix}"
    if not is_valid_name(result, NameKind.INSTANCE):
        raise UnitNameError(result, "Invalid unit name")
    return result


def _escape_byte(byte: int) -> str:
    return "\\x" + _HEX[byte >> 4] + _HEX[byte & 15]


def escape(text: str) -> str:
    r"""Escape a string for use in a unit name, as ``systemd-escape STRING`` does.

    ``a-b/c d`` becomes ``a\x2db-c\x20d``; a leading dot becomes ``\x2e``.
    """
    raw = _b(text)
    out: list[str] = []
    start = 0
    if raw[:1] == b".":
        out.append(_escape_byte(raw[0]))
        start = 1
    for byte in raw[start:]:
        if byte == 0x2F:  # '/'
            out.append("-")
        elif byte in (0x2D, 0x5C) or byte not in _VALID_CHARS:  # '-', '\'
            out.append(_escape_byte(byte))
        else:
            out.append(chr(byte))
    return "".join(out)


def _unhex(char: int) -> int:
    if 0x30 <= char <= 0x39:
        return char - 0x30
    if 0x61 <= char <= 0x66:
        return char - 0x61 + 10
    if 0x41 <= char <= 0x46:
        return char - 0x41 + 10
    return -1


def unescape(text: str) -> str:
    r"""Undo :func:`escape`: ``-`` becomes ``/``, ``\xNN`` becomes the byte (``%I``).

    Raises:
        UnitNameError: a backslash not followed by ``x`` and two hex digits.
    """
    raw = _b(text)
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        byte = raw[i]
        if byte == 0x2D:
            out.append(0x2F)
        elif byte == 0x5C:
            if i + 3 >= n or raw[i + 1] != 0x78:
                raise UnitNameError(text, "Invalid escape sequence")
            high, low = _unhex(raw[i + 2]), _unhex(raw[i + 3])
            if high < 0 or low < 0:
                raise UnitNameError(text, "Invalid escape sequence")
            out.append(high << 4 | low)
            i += 3
        else:
            out.append(byte)
        i += 1
    return _s(bytes(out))


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def path_simplify(path: str) -> str:
    """Drop duplicate slashes, ``.`` components and trailing slashes (``path_simplify()``).

    ``..`` is kept: whether it may be resolved depends on symlinks, which a name cannot know.
    """
    absolute = path.startswith("/")
    parts = _components(path)
    if not parts:
        return "/" if absolute else ("." if path else "")
    joined = "/".join(parts)
    return "/" + joined if absolute else joined


def path_is_valid(path: str) -> bool:
    """Non-empty, shorter than PATH_MAX, and no component longer than 255 bytes."""
    raw = _b(path)
    if not raw or len(raw) > PATH_MAX:
        return False
    return all(len(part) <= _NAME_MAX for part in raw.split(b"/"))


def path_is_normalized(path: str) -> bool:
    """Valid, with no ``.`` or ``..`` component and no ``//`` (``path_is_normalized()``)."""
    if not path_is_valid(path):
        return False
    parts = path.split("/")
    if any(part in (".", "..") for part in parts):
        return False
    return "//" not in path


def path_escape(path: str) -> str:
    r"""Escape a file system path for a unit name: ``/var/lib/my-data`` -> ``var-lib-my\x2ddata``.

    Raises:
        UnitNameError: the path is not valid or contains ``..`` after simplification.
    """
    simplified = path_simplify(path)
    if simplified in ("", "/"):
        return "-"
    if not path_is_normalized(simplified):
        raise UnitNameError(path, "Path is not normalized")
    return escape(simplified.strip("/"))


def path_unescape(text: str) -> str:
    """Undo :func:`path_escape`: ``var-lib`` -> ``/var/lib``, ``-`` -> ``/`` (``%f``).

    Raises:
        UnitNameError: empty input, a bad escape, or a result that is not a normalized path.
    """
    if not text:
        raise UnitNameError(text, "Empty path")
    if text == "-":
        return "/"
    plain = unescape(text)
    if plain.startswith("/") or plain.endswith("/"):
        raise UnitNameError(text, "Escaped path has a leading or trailing slash")
    result = "/" + plain
    if not path_is_normalized(result):
        raise UnitNameError(text, "Escaped path is not normalized")
    return result


def _path_startswith(path: str, prefix: str) -> str | None:
    """Remainder of ``path`` after ``prefix``, comparing components (``path_startswith()``)."""
    if path.startswith("/") != prefix.startswith("/"):
        return None
    parts = _components(path)
    wanted = _components(prefix)
    if parts[: len(wanted)] != wanted:
        return None
    return "/".join(parts[len(wanted) :])


def is_device_path(path: str) -> bool:
    """A path below ``/dev/`` or ``/sys/`` with something after the prefix."""
    return any(_path_startswith(path, prefix) for prefix in ("/dev/", "/sys/"))


def name_from_path(path: str, suffix: str) -> str:
    """The unit name for a path, such as a mount point: ``/home`` + ``.mount`` -> ``home.mount``.

    Raises:
        UnitNameError: the path cannot be escaped, or the name would be too long.
    """
    name = path_escape(path) + suffix
    if len(_b(name)) > UNIT_NAME_MAX:
        raise UnitNameError(name, "Unit name too long", "File name too long")
    if not is_valid_name(name, NameKind.PLAIN):
        raise UnitNameError(name, "Invalid unit name")
    return name


def mangle(text: str, suffix: str = ".service") -> str:
    """Turn user input into a unit name, as ``systemctl`` and ``systemd-escape --mangle`` do.

    A valid name stays as it is; ``/dev/...`` and ``/sys/...`` paths become ``.device``
    units, other absolute paths ``.mount`` units; otherwise ``/`` becomes ``-``, bytes not
    allowed in names are escaped, and ``suffix`` is added when there is no known type.

    Raises:
        UnitNameError: empty input, or the result is still not a valid name (too long, or
            starting with ``@``).
    """
    if not text:
        raise UnitNameError(text, "Empty unit name")
    if is_valid_name(text):
        return text
    if is_device_path(text):
        try:
            return name_from_path(text, ".device")
        except UnitNameError:
            pass
    if text.startswith("/"):
        try:
            return name_from_path(text, ".mount")
        except UnitNameError:
            pass
    out: list[str] = []
    for byte in _b(text):
        if byte == 0x2F:
            out.append("-")
        elif byte not in _VALID_CHARS_WITH_AT:
            out.append(_escape_byte(byte))
        else:
            out.append(chr(byte))
    name = "".join(out)
    _, dot, after = name.rpartition(".")
    if not (dot and after in UNIT_TYPES):
        name += suffix
    _require(name)
    return name
