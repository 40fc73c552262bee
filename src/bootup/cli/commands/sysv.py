"""The SysV-era commands systemctl also answers: poweroff, halt, reboot, telinit, runlevel.

* ``poweroff``/``halt``/``reboot`` do what ``systemctl poweroff`` does: start
  ``poweroff.target`` (``halt.target``, ``reboot.target``) on the system manager in
  ``replace-irreversibly`` mode, without waiting (the manager is going away). The system
  manager begins its ordered shutdown when that job starts (:mod:`bootup.runtime.system`).
* ``telinit N`` (and ``init N`` when not PID 1), as systemd's telinit: 0 poweroff,
  6 reboot, 1/s/S isolate rescue.target, 2-5 isolate runlevelN.target, q/Q daemon-reload
  (the ``io.bootup.Manager.Reload`` call), u/U re-execute (not supported yet).
* ``runlevel`` prints ``PREVIOUS CURRENT`` (``N`` for none) as systemd's runlevel does from
  utmp, here from the system manager's record ``/run/bootup/runlevel`` (how it is derived:
  :mod:`bootup.runtime.system`); without a record it prints ``unknown`` and exits 1, as
  systemd 252 does without a utmp runlevel.

All of them talk to the system manager (``/run/bootup/control.sock``), never to a project's.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

__all__ = ("TELINIT_ACTIONS", "register")

_MANAGER: Final = "io.bootup.Manager"

#: telinit argument -> (action, unit) as systemctl-compat-telinit.c maps them.
TELINIT_ACTIONS: Final[dict[str, tuple[str, str]]] = {
    "0": ("poweroff", "poweroff.target"),
    "6": ("reboot", "reboot.target"),
    "1": ("isolate", "rescue.target"),
    "s": ("isolate", "rescue.target"),
    "S": ("isolate", "rescue.target"),
    "2": ("isolate", "runlevel2.target"),
    "3": ("isolate", "runlevel3.target"),
    "4": ("isolate", "runlevel4.target"),
    "5": ("isolate", "runlevel5.target"),
    "q": ("reload", ""),
    "Q": ("reload", ""),
    "u": ("reexec", ""),
    "U": ("reexec", ""),
}


def register(subparsers: Any) -> None:
    """Add ``poweroff``, ``halt``, ``reboot``, ``telinit`` and ``runlevel``."""
    for verb, text in (
        ("poweroff", "shut the system manager down and power off"),
        ("halt", "shut the system manager down and halt"),
        ("reboot", "shut the system manager down and reboot"),
    ):
        p = subparsers.add_parser(verb, help=text)
        p.add_argument("--no-wall", action="store_true", help="accepted; bootup sends no wall")
        p.add_argument("--message", default="", help="a reason, written to the manager's log")
        p.add_argument(
            "-f", "--force", action="count", default=0, help="not supported yet (refused)"
        )
        p.set_defaults(handler=_shutdown, verb=verb)
    p = subparsers.add_parser(
        "telinit", help="change the SysV runlevel (0, 1-6, s, q) of the system manager"
    )
    p.add_argument("--no-wall", action="store_true", help="accepted; bootup sends no wall")
    p.add_argument("runlevel", nargs="?", metavar="RUNLEVEL")
    p.set_defaults(handler=_telinit)
    p = subparsers.add_parser("runlevel", help="print the previous and current SysV runlevel")
    p.set_defaults(handler=_runlevel)


def _client() -> Any:
    from bootup.control.address import find_socket
    from bootup.control.client import Client

    return Client(find_socket(system=True), timeout=None)


def _start_target(target: str, *, mode: str, block: bool) -> dict[str, Any]:
    with _client() as client:
        reply: dict[str, Any] = client.call(
            f"{_MANAGER}.EnqueueJob",
            {"unit": target, "type": "start", "mode": mode, "no_block": not block},
        )
    return reply


def _shutdown(args: argparse.Namespace) -> int:
    from bootup.errors import NotSupportedError

    if args.force:
        raise NotSupportedError(
            f"{args.verb} --force: not supported yet (it would skip stopping the units; "
            f"run '{args.verb}' without --force for the ordered shutdown)"
        )
    _start_target(f"{args.verb}.target", mode="replace-irreversibly", block=False)
    return 0


def _telinit(args: argparse.Namespace) -> int:
    import sys

    from bootup.control.errors import CallError, MethodNotFoundError
    from bootup.errors import NotSupportedError

    word: str | None = args.runlevel
    if word is None:
        print("telinit: expected one argument: 0-6, s, S, q, Q, u or U", file=sys.stderr)
        return 1
    action = TELINIT_ACTIONS.get(word)
    if action is None:
        print(
            f"telinit: unknown command {word!r}, expected 0-6, s, S, q, Q, u or U",
            file=sys.stderr,
        )
        return 1
    kind, unit = action
    if kind in ("poweroff", "reboot"):
        _start_target(unit, mode="replace-irreversibly", block=False)
        return 0
    if kind == "reexec":
        raise NotSupportedError(
            f"telinit {word} (daemon-reexec): not supported yet; bootup cannot re-execute "
            "its manager"
        )
    if kind == "reload":
        try:
            with _client() as client:
                client.call(f"{_MANAGER}.Reload")
        except MethodNotFoundError as exc:
            raise NotSupportedError(
                f"telinit {word} (daemon-reload): not supported yet by this manager ({exc})"
            ) from exc
        return 0
    try:
        with _client() as client:
            reply = client.call(
                f"{_MANAGER}.EnqueueJob", {"unit": unit, "type": "isolate", "no_block": False}
            )
    except CallError as exc:
        print(f"Failed to start {unit}: {exc}", file=sys.stderr)
        return 4 if exc.exit_code == 4 else 1
    result = reply.get("result")
    if result not in (None, "done"):
        print(f"Job for {unit} failed ({result}).", file=sys.stderr)
        return 1
    return 0


def _runlevel(args: argparse.Namespace) -> int:
    from bootup.control.address import SYSTEM_SOCKET

    try:
        words = (SYSTEM_SOCKET.parent / "runlevel").read_text().split()
    except OSError:
        words = []
    if len(words) != 2:
        print("unknown")
        return 1
    print(f"{words[0]} {words[1]}")
    return 0
