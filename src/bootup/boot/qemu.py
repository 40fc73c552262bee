"""Boot a disk image (or a kernel + initramfs) in QEMU and report which entry came up.

This is the oracle of the boot-chain tests: static answers ("GRUB will boot entry B") are
checked against what firmware, GRUB and the kernel really do. The machine is the one the
reference measured as fastest under TCG (§3.2, §5.1): ``-machine pc,accel=tcg`` with the
disk on IDE, no NIC (no iPXE ROM is installed with ``--no-install-recommends``), and
``-no-reboot`` so that a guest reboot or a ``panic=-1`` ends QEMU instead of looping.

The first serial port is QEMU's stdout (``-nographic -serial stdio``, monitor off; with
``-nographic`` SeaBIOS also prints the BIOS-level text of GRUB's stage 1 and 1.5 there, so
"GRUB loading" is visible), read through a pipe
as it arrives: the harness waits on the stream itself, not on timers, and records when each
milestone first appears (GRUB's "loading", "Welcome to GRUB", the probe's marker, the
kernel's "Power down"). One overall deadline bounds the whole boot; past it QEMU is killed
and :class:`QemuTimeoutError` carries the serial output so far.
"""

from __future__ import annotations

import errno
import os
import re
import selectors
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bootup.boot._inputs import BootFileError, BootFileNotFoundError
from bootup.boot.initramfs import MARKER
from bootup.errors import Error

__all__ = (
    "MILESTONES",
    "BootResult",
    "QemuError",
    "QemuNotFoundError",
    "QemuTimeoutError",
    "boot",
    "qemu_command",
)

#: Serial output that marks a stage of the chain, by name (first occurrence is timed).
MILESTONES: Final = {
    "grub_loading": b"GRUB loading",
    "grub_welcome": b"Welcome to GRUB",
    "marker": MARKER.encode(),
    "power_down": b"reboot: Power down",
}
_MARKER_LINE: Final = re.compile(
    re.escape(MARKER).encode() + rb" entry=(?P<entry>\S*)(?P<rest>[^\r\n]*)\r?\n"
)
_ANSI: Final = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_CMDLINE: Final = re.compile(r"cmdline=(?P<cmdline>.*)$")
_UPTIME: Final = re.compile(r"uptime=(?P<uptime>[0-9.]+)")


class QemuError(Error, RuntimeError):
    """QEMU could not boot the image to the marker.

    Attributes:
        serial: the serial console output received (decoded, undecodable bytes replaced).
        returncode: QEMU's exit status, or None if it was killed.
    """

    def __init__(self, message: str, *, serial: str = "", returncode: int | None = None) -> None:
        tail = serial[-2000:]
        super().__init__(f"{message}\n--- serial console (last 2000 characters) ---\n{tail}")
        self.serial = serial
        self.returncode = returncode


class QemuNotFoundError(QemuError):
    """``qemu-system-x86_64`` is not installed (Debian package qemu-system-x86)."""


class QemuTimeoutError(QemuError, TimeoutError):
    """The marker did not appear before the deadline; QEMU was killed."""


@dataclass(frozen=True, slots=True)
class BootResult:
    """What one boot showed on the serial console.

    Attributes:
        entry: the ``bootup.entry=`` value the probe /init found on its command line.
        cmdline: the kernel command line as /init read it (GRUB adds ``BOOT_IMAGE=``).
        guest_uptime: the kernel's uptime when /init printed the marker, in seconds.
        seconds: host wall time from QEMU start to the marker.
        milestones: host seconds at which each of :data:`MILESTONES` first appeared (the
            end of the boot for one found only in the whole output).
        serial: the whole console output.
        returncode: QEMU's exit status (None if it had to be killed after the marker).
    """

    entry: str
    cmdline: str
    guest_uptime: float | None
    seconds: float
    milestones: dict[str, float] = field(default_factory=dict)
    serial: str = ""
    returncode: int | None = None


def qemu_command(
    *,
    image: str | os.PathLike[str] | None = None,
    kernel: str | os.PathLike[str] | None = None,
    initrd: str | os.PathLike[str] | None = None,
    append: str | None = None,
    memory: int = 256,
    qemu: str = "qemu-system-x86_64",
    extra: Sequence[str] = (),
) -> list[str]:
    """The QEMU argv for a TCG boot with the serial console on stdout."""
    argv = [
        qemu,
        "-machine", "pc,accel=tcg",
        "-m", str(memory),
        "-nic", "none",
        # -nographic (not -display none) also makes SeaBIOS mirror its text output, and so
        # boot.img's "GRUB " and diskboot's "loading", to the serial port.
        "-nographic",
        "-monitor", "none",
        "-serial", "stdio",
        "-no-reboot",
    ]  # fmt: skip
    if image is not None:
        argv += ["-drive", f"file={os.fspath(image)},format=raw,if=ide"]
    if kernel is not None:
        argv += ["-kernel", os.fspath(kernel)]
        if initrd is not None:
            argv += ["-initrd", os.fspath(initrd)]
        if append is not None:
            argv += ["-append", append]
    argv += list(extra)
    return argv


def boot(
    image: str | os.PathLike[str] | None = None,
    *,
    kernel: str | os.PathLike[str] | None = None,
    initrd: str | os.PathLike[str] | None = None,
    append: str | None = None,
    timeout: float = 300.0,
    memory: int = 256,
    qemu: str = "qemu-system-x86_64",
    extra: Sequence[str] = (),
    clock: Callable[[], float] = time.monotonic,
) -> BootResult:
    """Boot in QEMU (TCG), wait for the probe's marker line, let the guest power off.

    Give ``image`` (a raw disk booted by SeaBIOS) or ``kernel`` [+ ``initrd``, ``append``]
    for a direct kernel boot (which skips the firmware and GRUB).

    Raises:
        QemuNotFoundError: QEMU is not installed.
        QemuTimeoutError: no marker within ``timeout`` seconds (QEMU is killed).
        QemuError: QEMU exited before the marker (a GRUB error, a kernel panic...).
    """
    if image is None and kernel is None:
        raise ValueError("boot() needs an image or a kernel")
    if image is not None and not Path(image).is_file():
        role = "the disk image to boot"
        if not Path(image).exists():
            raise BootFileNotFoundError(
                os.fspath(image), "No such file or directory", role=role, errno=errno.ENOENT
            )
        raise BootFileError(os.fspath(image), "not a regular file", role=role)
    binary = shutil.which(qemu)
    if binary is None:
        raise QemuNotFoundError(f"{qemu} not found (Debian package qemu-system-x86)")
    argv = qemu_command(
        image=image, kernel=kernel, initrd=initrd, append=append, memory=memory,
        qemu=binary, extra=extra,
    )  # fmt: skip
    started = clock()
    deadline = started + timeout
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    buffer = bytearray()
    milestones: dict[str, float] = {}
    marker: re.Match[bytes] | None = None
    marker_at = 0.0
    sel = selectors.DefaultSelector()
    try:
        sel.register(proc.stdout, selectors.EVENT_READ)
        eof = False
        # Read until the marker line and the power-off (or EOF: QEMU exited).
        while not eof:
            remaining = deadline - clock()
            if remaining <= 0:
                break
            if not sel.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                eof = True
                break
            buffer += chunk
            now = clock() - started
            if len(milestones) < len(MILESTONES):
                # SeaBIOS's serial mirror interleaves cursor moves with text at random
                # points ("Welc\x1b[04;04H...ome"), so match on the text without them.
                text = _ANSI.sub(b"", buffer[-(len(chunk) + 512) :])
                for name, needle in MILESTONES.items():
                    if name not in milestones and needle in text:
                        milestones[name] = now
            if marker is None:
                marker = _MARKER_LINE.search(buffer)
                if marker is not None:
                    marker_at = now
                    # The guest powers off right after; give it a short grace period.
                    deadline = min(deadline, clock() + 30.0)
        if not eof:
            proc.kill()
        returncode = proc.wait()
        killed = not eof
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    finished = clock() - started
    if len(milestones) < len(MILESTONES):
        # The scan above looks at a window around each chunk; a mirrored line whose cursor
        # moves straddle that window is only whole in the full output. Its time is then
        # known only as "by the end of the boot".
        whole = _ANSI.sub(b"", buffer)
        for name, needle in MILESTONES.items():
            if name not in milestones and needle in whole:
                milestones[name] = finished
    serial = buffer.decode("utf-8", "replace")
    if marker is None:
        if killed:
            raise QemuTimeoutError(
                f"no {MARKER} line within {timeout:.0f} s; QEMU was killed", serial=serial
            )
        raise QemuError(
            f"QEMU exited with status {returncode} before the {MARKER} line",
            serial=serial,
            returncode=returncode,
        )
    rest = marker.group("rest").decode("utf-8", "replace")
    cmdline = _CMDLINE.search(rest)
    uptime = _UPTIME.search(rest)
    return BootResult(
        entry=marker.group("entry").decode("utf-8", "replace"),
        cmdline=cmdline.group("cmdline").strip() if cmdline else "",
        guest_uptime=float(uptime.group("uptime")) if uptime else None,
        seconds=marker_at,
        milestones=milestones,
        serial=serial,
        returncode=None if killed else returncode,
    )
