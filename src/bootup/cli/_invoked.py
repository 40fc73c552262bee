"""What bootup does when it is invoked through a link named like a systemd or SysV tool."""

from __future__ import annotations

import os

from bootup.errors import NotSupportedError

__all__ = ("as_invoked",)


#: Top-level bootup verbs that systemd-analyze also has (the rest live under ``analyze``).
_ANALYZE_TOP_LEVEL = frozenset({"verify", "unit-paths", "cat-config"})


def as_invoked(program: str, arguments: list[str]) -> list[str]:
    """Translate a command line given to a link named like a systemd tool.

    Containers whose scripts call ``systemctl enable x`` or ``journalctl -u x`` can link
    those names to bootup: ``systemctl`` takes bootup's verbs as they are, ``journalctl``
    is ``bootup logs``, ``systemd-analyze VERB`` is ``bootup analyze VERB`` (or the
    top-level ``verify``/``unit-paths``), and ``telinit N`` isolates ``runlevelN.target``.
    """
    name = os.path.basename(program)
    if name == "journalctl":
        return ["logs", *arguments]
    if name == "systemd-analyze":
        if arguments and arguments[0] in _ANALYZE_TOP_LEVEL:
            return arguments
        return ["analyze", *arguments]
    if name in ("telinit", "init") and arguments and arguments[0] in "123456":
        return ["isolate", f"runlevel{arguments[0]}.target", *arguments[1:]]
    if name in ("init", "telinit", "runlevel"):
        raise NotSupportedError(
            f"{name} {' '.join(arguments)}: not supported yet (bootup does not run as the "
            "system's PID 1 yet; telinit 1-6 isolates runlevelN.target of a running manager)"
        )
    return arguments
