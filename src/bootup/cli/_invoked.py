"""What bootup does when it is invoked through a link named like a systemd or SysV tool.

Containers whose scripts call ``systemctl enable x``, ``journalctl -u x``, ``telinit 3`` or
``runlevel`` can link those names to bootup, and an image can make bootup its ``/sbin/init``.
"""

from __future__ import annotations

import os

__all__ = ("as_invoked",)


#: Top-level bootup verbs that systemd-analyze also has (the rest live under ``analyze``).
_ANALYZE_TOP_LEVEL = frozenset({"verify", "unit-paths", "cat-config"})

#: systemctl options a script may write before the verb; bootup's verbs take them after it.
_VERB_FLAGS = frozenset(
    {"--system", "--user", "--no-block", "--no-pager", "--no-legend", "--plain", "--wait",
     "--value", "--quiet", "-q", "--all", "-a", "--no-wall", "--now", "--no-ask-password"}
)  # fmt: skip
_VERB_VALUED = frozenset(
    {"--job-mode", "--property", "-p", "--type", "-t", "--state", "--output", "-o",
     "--lines", "-n", "--signal", "-s", "--kill-whom"}
)  # fmt: skip

#: Names Debian links to systemctl that are bootup verbs of the same name.
_SYSTEMCTL_ALIASES = frozenset({"poweroff", "halt", "reboot", "runlevel", "telinit"})


def as_invoked(program: str, arguments: list[str], *, pid: int | None = None) -> list[str]:
    """Translate a command line given to a link named like a systemd or SysV tool.

    ``systemctl`` takes bootup's verbs as they are, ``journalctl`` is ``bootup logs``,
    ``systemd-analyze VERB`` is ``bootup analyze VERB`` (or the top-level
    ``verify``/``unit-paths``), ``telinit``/``runlevel``/``poweroff``/``halt``/``reboot`` are
    the verbs of those names. ``init`` is what systemd's ``/sbin/init`` is: as PID 1 it runs
    the system manager (``bootup init``, the kernel's command-line words passed on); as any
    other process it is ``telinit``. ``pid`` stands for ``os.getpid()`` (tests).
    """
    name = os.path.basename(program)
    if name == "journalctl":
        return ["logs", *arguments]
    if name == "systemd-analyze":
        if arguments and arguments[0] in _ANALYZE_TOP_LEVEL:
            return arguments
        return ["analyze", *arguments]
    if name == "init":
        if (os.getpid() if pid is None else pid) == 1:
            return ["init", *arguments]
        return ["telinit", *arguments]
    if name in _SYSTEMCTL_ALIASES:
        return [name, *arguments]
    return verb_options_after_verb(arguments)


def verb_options_after_verb(arguments: list[str]) -> list[str]:
    """Move systemctl's options written before the verb behind it.

    ``systemctl --system start x`` and ``bootup --system is-active x`` are how people and
    scripts write it; bootup's verbs own those options, so they go after the verb. Options
    of the top level (``--root``, ``--project``, ``--version``) stay where they are.
    """
    moved: list[str] = []
    kept: list[str] = []
    i = 0
    while i < len(arguments):
        word = arguments[i]
        if not word.startswith("-") or word == "--":
            break
        key = word.split("=", 1)[0]
        if key in _VERB_FLAGS or (key in _VERB_VALUED and "=" in word):
            moved.append(word)
        elif key in _VERB_VALUED and i + 1 < len(arguments):
            moved.extend(arguments[i : i + 2])
            i += 1
        elif key in ("--root", "--project") and "=" not in word and i + 1 < len(arguments):
            kept.extend(arguments[i : i + 2])
            i += 1
        else:
            kept.append(word)
        i += 1
    if not moved or i >= len(arguments):
        return arguments
    return [*kept, arguments[i], *moved, *arguments[i + 1 :]]
