"""The golden-file cases of ``tests/cli/test_golden.py``: one row per command line.

Why a table: every verb of ``bootup`` must have at least one row (``test_golden.py`` fails
naming each verb that has none), and a reviewer sees every command the suite pins in one
place. A row says which fixture the command runs against, what it is called with (argv
after ``bootup``) and the exit code it must return; its output is pinned in
``tests/cli/golden/<name>.out``. How to add a row and regenerate: tests/cli/golden/README.md.

Placeholders in ``argv`` (replaced by paths of the fixture, and back in the output):

=================  ========  =========================================================
placeholder        fixture   what it is
=================  ========  =========================================================
``{data}``         any       tests/data/cli-golden (read-only)
``{tmp}``          any       an empty directory of the case's own
``{units}``        files     a fresh copy of tests/data/cli-golden/units (a project)
``{journal}``      files     a journal file with fixed entries (host ``golden-host``)
``{root}``         boot      a fresh root directory: grub.cfg, grubenv, kernel, initrd
``{image}``        boot      a fresh copy of an 8 MiB BIOS/GRUB disk image built by bootup
``{kernel}``       boot      a synthetic bzImage (release 6.9.0-golden)
``{initrd}``       boot      an uncompressed initramfs built by bootup
``{core}``         boot      a core.img made by grub-mkimage for the disk image
``{badenv}``       boot      a 1024-byte file that is not a GRUB environment block
``{project}``      live      the directory of the running manager (tests/data/cli-golden/project)
``{up}``           up        a fresh copy of tests/data/cli-golden/up
``{qimage}``       qemu      a disk image with the boot-assets kernel and a busybox initramfs
=================  ========  =========================================================

Live cases run in table order against one manager: the read-only ones first, then each
state-changing one against a unit of its own, ``exit`` last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ("CASES", "Case", "Fixture")

#: ``files``: offline files; ``boot``: boot-chain files and a disk image; ``live``: one
#: running manager; ``up``: ``bootup up`` on a project of its own; ``qemu``: a real boot.
Fixture = Literal["files", "boot", "live", "up", "qemu"]


@dataclass(frozen=True)
class Case:
    """One command line and what it must print.

    Attributes:
        name: the golden file's base name (``golden/<name>.out``), unique.
        argv: the arguments after ``bootup``, with placeholders (see the module docstring).
        fixture: what the command runs against.
        exit: the exit code it must return.
        dynamic: the output holds run-dependent values (PIDs, clock times, durations, IDs,
            the host name) that the normalisation replaces; true for live, up and qemu.
        slow: marked ``slow`` (it still runs in ``make test``).
        xfail: the output is wrong today; the reason (the case then must fail).
    """

    name: str
    argv: tuple[str, ...]
    fixture: Fixture
    exit: int = 0
    dynamic: bool | None = None
    slow: bool = False
    xfail: str | None = None

    @property
    def is_dynamic(self) -> bool:
        """Whether the run-dependent normalisation applies (see ``Case.dynamic``)."""
        if self.dynamic is not None:
            return self.dynamic
        return self.fixture in ("live", "up", "qemu")


def _c(
    name: str,
    fixture: Fixture,
    *argv: str,
    exit: int = 0,
    dynamic: bool | None = None,
    slow: bool = False,
    xfail: str | None = None,
) -> Case:
    """A row, with the argv as positional arguments so that the table reads like a shell."""
    return Case(name, argv, fixture, exit, dynamic=dynamic, slow=slow, xfail=xfail)


U = ("--project", "{units}")
T = ("--from-file", "{data}/timing.json")
P = ("--project", "{project}")

# fmt: off
CASES: tuple[Case, ...] = (
    # --- unit files, offline ----------------------------------------------------------
    _c("verify-ok", "files", "verify", "{units}/web.service", *U),
    _c("verify-bad-exec", "files", "verify", "{units}/broken.service", *U, exit=1),
    _c("verify-malformed", "files", "verify", "{units}/malformed.service", *U, exit=1),
    _c("verify-man-unsupported", "files", "verify", "--man=yes", "{units}/web.service", exit=1),
    _c("cat-with-dropin", "files", "cat", "web.service", *U),
    _c("cat-not-found", "files", "cat", "nope.service", *U, exit=1),
    _c("cat-masked", "files", "cat", "masked.service", *U, exit=1),
    _c("show-offline", "files", "show", "web.service", *U),
    _c("show-offline-properties", "files", "show", "-p", "Requires,After", "web.service", *U),
    _c("show-offline-value", "files", "show", "-p", "Description", "--value", "web.service", *U),
    _c("show-offline-json", "files", "show", "--json", "-p", "Id,LoadState", "cache.service", *U),
    _c("show-offline-mangles-names", "files", "show", "-p", "Id,LoadState", "cache", *U),
    _c("show-offline-not-found", "files", "show", "nope.service", *U),
    _c("enable", "files", "enable", "web.service", *U),
    _c("enable-not-found", "files", "enable", "nope.service", *U, exit=1),
    _c("enable-now-unsupported", "files", "enable", "--now", "web.service", *U, exit=1),
    _c("disable", "files", "disable", "cache.service", *U),
    _c("reenable", "files", "reenable", "cache.service", *U),
    _c("mask-existing-file", "files", "mask", "helper.service", *U, exit=1),
    _c("mask", "files", "mask", "nope.service", *U),
    _c("unmask", "files", "unmask", "masked.service", *U),
    _c("is-enabled", "files", "is-enabled", "cache.service", "helper.service", *U),
    _c("is-enabled-disabled", "files", "is-enabled", "web.service", *U, exit=1),
    _c("is-enabled-masked", "files", "is-enabled", "masked.service", *U, exit=1),
    _c("is-enabled-not-found", "files", "is-enabled", "nope.service", *U, exit=1),
    _c("set-default", "files", "set-default", "network.target", *U),
    _c("set-default-not-found", "files", "set-default", "nope.target", *U, exit=1),
    _c("get-default", "files", "get-default", *U),
    _c("get-default-unset", "files", "get-default", "--project", "{tmp}", exit=1),
    _c("list-unit-files", "files", "list-unit-files", *U),
    _c("list-unit-files-pattern", "files", "list-unit-files", "*.target", *U),
    _c("list-unit-files-json", "files", "list-unit-files", "--json", "c*", *U),
    _c("unit-paths-project", "files", "unit-paths", *U),
    _c("unit-paths-root", "files", "unit-paths", "--root", "{tmp}"),
    _c("list-dependencies", "files", "list-dependencies", "web.service", *U),
    _c("list-dependencies-reverse", "files", "list-dependencies", "--reverse", "basic.target", *U),
    _c("list-dependencies-after-plain", "files", "list-dependencies", "--after", "--plain",
       "web.service", *U),
    _c("list-dependencies-not-found", "files", "list-dependencies", "nope.service", *U),
    _c("analyze-dot", "files", "analyze", "dot", *U),
    _c("analyze-dot-order-pattern", "files", "analyze", "dot", "--order", "web.service", *U),
    _c("analyze-why", "files", "analyze", "why", "cache.service", "--from", "multi-user.target",
       *U),
    _c("analyze-why-not", "files", "analyze", "why", "web.service", "--from", "multi-user.target",
       *U, exit=1),
    _c("analyze-why-not-found", "files", "analyze", "why", "nope.service", *U, exit=1),
    # --- analysis of a recorded startup ------------------------------------------------
    _c("analyze-time", "files", "analyze", "time", *T),
    _c("analyze-blame", "files", "analyze", "blame", *T),
    _c("analyze-critical-chain", "files", "analyze", "critical-chain", *T),
    _c("analyze-critical-chain-default-unit", "files", "analyze", "critical-chain",
       "--from-file", "{data}/timing-no-alias.json"),
    _c("analyze-critical-chain-unit", "files", "analyze", "critical-chain", "web.service", *T),
    _c("analyze-plot-svg", "files", "analyze", "plot", *T),
    _c("analyze-plot-html", "files", "analyze", "plot", "--format=html", *T),
    _c("analyze-timing-dump", "files", "analyze", "timing-dump", *T),
    _c("analyze-time-no-state", "files", "analyze", "time", "--project", "{tmp}", exit=1),
    _c("analyze-blame-bad-file", "files", "analyze", "blame", "--from-file", "{units}/web.service",
       exit=1),
    # --- systemd-escape ----------------------------------------------------------------
    _c("escape", "files", "escape", "Hello World/\u00e4", "--", "-dash"),
    _c("escape-path-suffix", "files", "escape", "--path", "--suffix=mount", "/var/lib/my data/"),
    _c("escape-template", "files", "escape", "--template=getty@.service", "tty/1"),
    _c("escape-unescape-instance", "files", "escape", "-u", "--instance",
       "getty@tty\\x2f1.service"),
    _c("escape-mangle", "files", "escape", "--mangle", "my unit", "foo@bar"),
    _c("escape-instance-without-unescape", "files", "escape", "--instance", "x", exit=1),
    _c("escape-unescape-invalid", "files", "escape", "-u", "a\\x", exit=1),
    # --- journalctl over a fixed journal file -------------------------------------------
    _c("logs", "files", "logs", "--file", "{journal}"),
    _c("logs-unit-lines", "files", "logs", "--file", "{journal}", "-u", "web", "-n", "2"),
    _c("logs-reverse-priority", "files", "logs", "--file", "{journal}", "-r", "-p", "warning"),
    _c("logs-short-iso", "files", "logs", "--file", "{journal}", "-o", "short-iso", "-u", "db"),
    _c("logs-cat", "files", "logs", "--file", "{journal}", "-o", "cat"),
    _c("logs-json", "files", "logs", "--file", "{journal}", "-o", "json", "-n", "2"),
    _c("logs-since-until", "files", "logs", "--file", "{journal}", "--since", "2026-01-02 03:04:06",
       "--until", "2026-01-02 03:04:07"),
    _c("logs-no-entries", "files", "logs", "--file", "{journal}", "-u", "nope"),
    _c("logs-bad-since", "files", "logs", "--file", "{journal}", "--since", "yesterdayish",
       exit=1),
    _c("logs-bad-output", "files", "logs", "--file", "{journal}", "-o", "yaml", exit=1),
    _c("logs-no-journal", "files", "logs", "--project", "{tmp}", exit=1),
    # --- the boot chain ----------------------------------------------------------------
    _c("boot-usage", "boot", "boot", exit=2),
    _c("boot-explain-root", "boot", "boot", "explain", "{root}"),
    _c("boot-explain-image", "boot", "boot", "explain", "{image}"),
    _c("boot-explain-image-json", "boot", "boot", "explain", "{image}", "--json"),
    _c("boot-explain-missing", "boot", "boot", "explain", "{tmp}/nothing", exit=1),
    _c("boot-set-default", "boot", "boot", "set-default", "Advanced>Linux (C)", "--root", "{root}"),
    _c("boot-set-default-image", "boot", "boot", "set-default", "a", "--image", "{image}"),
    _c("boot-set-default-refused", "boot", "boot", "set-default", "lin-c", "--root", "{root}",
       exit=1),
    _c("boot-reboot-once", "boot", "boot", "reboot-once", "lin-a", "--root", "{root}", "--json"),
    _c("boot-resolve", "boot", "boot", "resolve", "--root", "{root}"),
    _c("boot-resolve-bad-grubenv", "boot", "boot", "resolve", "--grubenv", "{badenv}", "--grub-cfg",
       "{root}/boot/grub/grub.cfg"),
    _c("boot-env-list", "boot", "boot", "env", "{root}/boot/grub/grubenv", "list"),
    _c("boot-env-set", "boot", "boot", "env", "{tmp}/grubenv", "set", "a=1", "b=x y"),
    _c("boot-env-unset", "boot", "boot", "env", "{root}/boot/grub/grubenv", "unset", "saved_entry"),
    _c("boot-env-create", "boot", "boot", "env", "{tmp}/grubenv", "create"),
    _c("boot-env-invalid-parameter", "boot", "boot", "env", "{tmp}/grubenv", "set", "noequals",
       exit=1),
    _c("boot-env-bad-block", "boot", "boot", "env", "{badenv}", "list", exit=1),
    _c("boot-install-grub", "boot", "boot", "install-grub", "{image}", "--core", "{core}"),
    _c("boot-install-grub-no-core", "boot", "boot", "install-grub", "{image}", "--core",
       "{tmp}/missing.img", exit=1),
    _c("boot-disk", "boot", "boot", "disk", "{image}"),
    _c("boot-disk-no-partition-table", "boot", "boot", "disk", "{badenv}"),
    _c("boot-partitions", "boot", "boot", "partitions", "{image}"),
    _c("boot-partitions-json", "boot", "boot", "partitions", "{image}", "--json"),
    _c("boot-cat", "boot", "boot", "cat", "{image}", "/boot/grub/grub.cfg"),
    _c("boot-cat-missing-file", "boot", "boot", "cat", "{image}", "/boot/nope", exit=1),
    _c("boot-kernel", "boot", "boot", "kernel", "{kernel}"),
    _c("boot-kernel-json", "boot", "boot", "kernel", "{kernel}", "--json"),
    _c("boot-kernel-not-a-kernel", "boot", "boot", "kernel", "{badenv}", exit=1),
    _c("boot-initramfs-list", "boot", "boot", "initramfs", "list", "{initrd}"),
    _c("boot-initramfs-build", "boot", "boot", "initramfs", "build", "{tmp}/initrd.img",
       "--compression", "none", "--applet", "sh"),
    _c("boot-initramfs-list-not-cpio", "boot", "boot", "initramfs", "list", "{kernel}", exit=1),
    _c("boot-image-build", "boot", "boot", "image", "build", "{tmp}/disk.img", "--kernel",
       "{kernel}", "--initrd", "{initrd}", "--entry", "a=Alpha", "--entry", "adv>b=Beta",
       "--saved-entry", "adv>b", "--size", "8M", dynamic=True),
    _c("boot-image-build-no-menu", "boot", "boot", "image", "build", "{tmp}/disk.img", "--kernel",
       "{kernel}", "--initrd", "{initrd}", exit=1),
    _c("boot-image-run-missing", "boot", "boot", "image", "run", "{tmp}/missing.img", exit=1),
    _c("boot-image-run", "qemu", "boot", "image", "run", "{qimage}", slow=True),
    # --- the system manager's verbs, where no system manager is needed -------------------
    _c("init-help", "files", "init", "--help"),
    _c("poweroff-force-unsupported", "files", "poweroff", "-f", exit=1),
    _c("halt-force-unsupported", "files", "halt", "--force", exit=1),
    _c("reboot-force-unsupported", "files", "reboot", "-f", exit=1),
    _c("telinit-no-argument", "files", "telinit", exit=1),
    _c("telinit-unknown", "files", "telinit", "9", exit=1),
    _c("telinit-reexec-unsupported", "files", "telinit", "u", exit=1),
    _c("runlevel-no-record", "files", "runlevel", exit=1),
    # --- bootup up ----------------------------------------------------------------------
    _c("up-exit-after-start", "up", "up", "{up}", "--exit-after-start", "--no-color"),
    _c("up-failed-unit", "up", "up", "{up}", "--unit", "bad.service", "--exit-after-start",
       "--no-color", exit=1),
    _c("up-missing-directory", "up", "up", "{tmp}/missing", "--exit-after-start", exit=1),
    # --- a running manager, read-only first -------------------------------------------
    _c("status", "live", "status", *P, "web.service"),
    _c("status-oneshot-inactive", "live", "status", *P, "once", exit=3),
    _c("status-not-found", "live", "status", *P, "nope.service", exit=4),
    _c("is-active", "live", "is-active", *P, "web"),
    _c("is-active-inactive", "live", "is-active", *P, "idle", "nope.service", exit=3),
    _c("is-failed-not", "live", "is-failed", *P, "web.service", exit=1),
    _c("list-units", "live", "list-units", *P),
    _c("list-units-all-plain", "live", "list-units", *P, "--all", "--plain", "--no-legend"),
    _c("list-units-pattern-state", "live", "list-units", *P, "--state=running", "w*"),
    _c("list-units-json", "live", "list-units", *P, "-o", "json", "--type=target"),
    _c("list-jobs", "live", "list-jobs", *P),
    _c("show-live-properties", "live", "show", *P, "web", "-p", "Id,ActiveState,SubState,MainPID"),
    _c("show-live-running", "live", "show", *P, "worker.service"),
    _c("show-live-not-found", "live", "show", *P, "nope.service"),
    _c("analyze-time-live", "live", "analyze", "time", "--project", "{project}"),
    # --- a running manager, each state change on a unit of its own -------------------
    _c("start-failing", "live", "start", *P, "bad", exit=1),
    _c("status-failed", "live", "status", *P, "bad", exit=3),
    _c("is-failed", "live", "is-failed", *P, "bad"),
    _c("logs-live-unit", "live", "logs", "--project", "{project}", "-u", "bad"),
    _c("list-units-failed", "live", "list-units", *P, "--state=failed"),
    _c("status-two-units", "live", "status", *P, "bad", "nope", exit=4),
    _c("reset-failed", "live", "reset-failed", *P, "bad"),
    _c("is-failed-after-reset", "live", "is-failed", *P, "bad", exit=1),
    _c("start-not-found", "live", "start", *P, "nope", exit=5),
    _c("start", "live", "start", *P, "idle"),
    _c("stop", "live", "stop", *P, "stopme"),
    _c("restart", "live", "restart", *P, "restartme"),
    _c("try-restart-inactive", "live", "try-restart", *P, "stopme"),
    _c("try-restart", "live", "try-restart", *P, "restartme"),
    _c("reload", "live", "reload", *P, "reloadme"),
    _c("reload-unsupported", "live", "reload", *P, "web", exit=1),
    _c("reload-or-restart", "live", "reload-or-restart", *P, "reloadme", "restartme"),
    _c("kill", "live", "kill", *P, "killme"),
    _c("kill-bad-signal", "live", "kill", *P, "-s", "SIGNOPE", "killme", exit=1),
    _c("start-no-block", "live", "start", *P, "--no-block", "notready"),
    _c("list-jobs-running", "live", "list-jobs", *P),
    _c("stop-cancels-start", "live", "stop", *P, "notready"),
    _c("daemon-reload", "live", "daemon-reload", *P),
    _c("daemon-reexec", "live", "daemon-reexec", *P, exit=1),
    _c("isolate", "live", "isolate", *P, "multi-user.target"),
    _c("exit", "live", "exit", *P),
)
# fmt: on
