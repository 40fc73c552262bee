"""systemd's architecture names (src/basic/architecture.c).

One table for both places systemd uses them: what the ``%a`` specifier expands to and what
``ConditionArchitecture=`` compares, so the two cannot disagree about a machine.
"""

from __future__ import annotations

from typing import Final

__all__ = ("KNOWN_ARCHITECTURES", "architecture_of")

#: ``uname -m`` -> systemd's name (32-bit ARM is handled by prefix in architecture_of).
_BY_MACHINE: Final = {
    "x86_64": "x86-64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "aarch64_be": "arm64-be",
    "ppc64le": "ppc64-le",
    "ppc64": "ppc64",
    "ppc": "ppc",
    "s390x": "s390x",
    "s390": "s390",
    "riscv64": "riscv64",
    "riscv32": "riscv32",
    "loongarch64": "loongarch64",
    "mips64": "mips64",
    "mips": "mips",
    "alpha": "alpha",
    "ia64": "ia64",
    "parisc64": "parisc64",
    "parisc": "parisc",
    "sparc64": "sparc64",
    "sparc": "sparc",
    "m68k": "m68k",
}

#: Every name ``ConditionArchitecture=`` may compare with (others never match).
KNOWN_ARCHITECTURES: Final = frozenset(_BY_MACHINE.values()) | {
    "arm",
    "arm-be",
    "arc",
    "arc-be",
    "cris",
    "mips-le",
    "mips64-le",
    "nios2",
    "ppc-le",
    "sh",
    "sh64",
    "tilegx",
}


def architecture_of(machine: str) -> str | None:
    """Systemd's name for a ``uname -m`` machine, or None when it has none here."""
    if machine.startswith("arm"):
        return "arm-be" if machine.endswith("b") else "arm"
    return _BY_MACHINE.get(machine)
