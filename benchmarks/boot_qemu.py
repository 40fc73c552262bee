"""How long the boot-chain oracle takes: one QEMU (TCG) boot to the marker, and an image build.

Prints medians over several runs:

* GRUB boot: SeaBIOS → boot.img → core.img → grub.cfg → kernel → /init marker, on an
  image made by ``bootup boot image build``; the baseline is a direct ``-kernel`` boot of
  the same kernel and initramfs in the same run (no firmware disk I/O, no GRUB), so the
  ratio is the price of the real chain;
* image build: ``bootup boot image build`` as a command (Python start-up included) and
  :func:`bootup.boot.image.build_image` in-process, against the bare external tools it
  drives (``mke2fs -d`` + ``grub-mkimage``) as the baseline.

Needs the assets of scripts/fetch-boot-assets and qemu-system-x86.
Usage: .venv/bin/python benchmarks/boot_qemu.py [--runs 3] [--build-runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bootup.boot.image import DEFAULT_KERNEL_ARGS, MenuEntry, Submenu, build_image
from bootup.boot.initramfs import build_initramfs
from bootup.boot.qemu import boot

ASSETS = Path(os.environ.get("BOOTUP_CACHE", "/var/cache/bootup-tests")) / "boot-assets"
MENU = (
    MenuEntry("Test Linux A", "test-a", "A"),
    Submenu("Advanced options", "adv", (MenuEntry("Test Linux B", "test-b", "B"),)),
)


def _median(runs: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [fn() for _ in range(runs)]
    return statistics.median(samples), samples


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="boots per variant")
    parser.add_argument("--build-runs", type=int, default=5, help="image builds per variant")
    args = parser.parse_args()
    kernel = ASSETS / "vmlinuz"
    if not kernel.exists() or shutil.which("qemu-system-x86_64") is None:
        print("needs scripts/fetch-boot-assets and qemu-system-x86", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bootup-bench-"))
    try:
        initrd = work / "initrd.img"
        initrd.write_bytes(build_initramfs(busybox=ASSETS / "busybox"))
        image = work / "disk.img"
        grubenv = {"saved_entry": "adv>test-b"}

        def build_in_process() -> float:
            return _timed(lambda: build_image(image, kernel=kernel, initrd=initrd, menu=MENU,
                                              grubenv=grubenv))  # fmt: skip

        def build_cli() -> float:
            argv = [sys.executable, "-m", "bootup", "boot", "image", "build", str(image),
                    "--kernel", str(kernel), "--initrd", str(initrd), "--entry", "test-a",
                    "--entry", "adv>test-b", "--saved-entry", "adv>test-b"]  # fmt: skip
            return _timed(lambda: subprocess.run(argv, check=True, capture_output=True))

        stage = work / "stage" / "boot" / "grub"
        stage.mkdir(parents=True)
        shutil.copyfile(kernel, stage.parent / "vmlinuz")
        shutil.copyfile(initrd, stage.parent / "initrd.img")
        shutil.copytree("/usr/lib/grub/i386-pc", stage / "i386-pc")

        def tools_only() -> float:
            def run() -> None:
                subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", str(work / "stage"),
                                str(work / "fs.img"), "64512k"], check=True,
                               capture_output=True)  # fmt: skip
                subprocess.run(["grub-mkimage", "-O", "i386-pc", "-o", str(work / "core.img"),
                                "-p", "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos",
                                "ext2"], check=True, capture_output=True)  # fmt: skip

            return _timed(run)

        base, base_runs = _median(args.build_runs, tools_only)
        inproc, inproc_runs = _median(args.build_runs, build_in_process)
        cli, cli_runs = _median(args.build_runs, build_cli)
        print(f"image build, median of {args.build_runs}:")
        print(f"  mke2fs -d + grub-mkimage (baseline) {base:7.3f} s  {_fmt(base_runs)}")
        print(f"  build_image() in-process            {inproc:7.3f} s  {_fmt(inproc_runs)}"
              f"  x{inproc / base:.2f}")  # fmt: skip
        print(f"  bootup boot image build (command)   {cli:7.3f} s  {_fmt(cli_runs)}"
              f"  x{cli / base:.2f}")  # fmt: skip

        build_in_process()
        direct, direct_runs = _median(args.runs, lambda: boot(
            kernel=kernel, initrd=initrd, append=f"{DEFAULT_KERNEL_ARGS} bootup.entry=direct"
        ).seconds)  # fmt: skip
        grub_results = [boot(image) for _ in range(args.runs)]
        assert all(r.entry == "B" for r in grub_results), [r.entry for r in grub_results]
        grub_runs = [r.seconds for r in grub_results]
        grub = statistics.median(grub_runs)
        uptime = statistics.median(r.guest_uptime or 0.0 for r in grub_results)
        print(f"QEMU TCG boot to the marker, median of {args.runs}:")
        print(f"  direct -kernel boot (baseline)      {direct:7.2f} s  {_fmt(direct_runs)}")
        print(f"  BIOS -> GRUB -> kernel -> /init     {grub:7.2f} s  {_fmt(grub_runs)}"
              f"  x{grub / direct:.2f}  (guest uptime at marker {uptime:.2f} s)")  # fmt: skip
        for name in ("grub_loading", "grub_welcome", "marker", "power_down"):
            times = [r.milestones[name] for r in grub_results if name in r.milestones]
            if times:
                print(f"    {name:<14} at {statistics.median(times):6.2f} s  {_fmt(times)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _fmt(samples: list[float]) -> str:
    return "[" + ", ".join(f"{s:.2f}" for s in samples) + "]"


if __name__ == "__main__":
    raise SystemExit(main())
