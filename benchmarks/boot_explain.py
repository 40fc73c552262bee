"""How long ``bootup boot explain`` takes on a disk image, against the tools it replaces.

For a 64 MiB image and a 4 GiB sparse image (same layout: one ext4 partition at 2048 with
/boot/grub, GRUB installed in the MBR gap), it prints medians over several runs of:

* ``explain`` in-process (:func:`bootup.boot.explain.explain`): MBR, boot.img, core.img
  (LZMA-decoded for its prefix), ext4 reads of grubenv/grub.cfg, the static menu and the
  default resolution;
* ``bootup boot explain IMG`` as a command (Python start-up included);
* the floor, measured in the same run: ``sfdisk --json IMG`` plus ``grub-editenv FILE list``,
  which together give only the partition table and the raw variables;
* ``python -c pass``: the interpreter start-up that the command pays before any bootup code.

Target: under 200 ms per explain. Usage: .venv/bin/python benchmarks/boot_explain.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import _stats

from bootup.boot import explain, grubenv, install

CFG = """\
set timeout=0
if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
else
   set default="${saved_entry}"
fi
menuentry_id_option="--id"
export menuentry_id_option
menuentry 'Linux (A)' $menuentry_id_option 'lin-a' {
  linux /boot/vmlinuz entry=A
}
submenu 'Advanced' $menuentry_id_option 'adv' {
  menuentry 'Linux (B)' $menuentry_id_option 'lin-b' {
    linux /boot/vmlinuz entry=B
  }
}
"""


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(f"/usr/sbin/{name}") or shutil.which(f"/sbin/{name}")
    if found is None:
        sys.exit(f"boot_explain: {name} is not installed")
    return found


def build(work: Path, size: int) -> tuple[Path, Path]:
    """A GRUB-bootable image of ``size`` bytes (sparse) and the grubenv put into it."""
    stage = work / f"stage-{size}"
    (stage / "boot/grub").mkdir(parents=True)
    (stage / "boot/grub/grub.cfg").write_text(CFG)
    (stage / "boot/vmlinuz").write_bytes(b"k" * 4096)
    env = stage / "boot/grub/grubenv"
    block = grubenv.create_file(env)
    block.set("saved_entry", "adv>lin-b")
    grubenv.save(block)
    image = work / f"disk-{size >> 20}M.img"
    with image.open("wb") as handle:
        handle.truncate(size)
    subprocess.run(
        [_tool("sfdisk"), "-q", str(image)],
        input=b"label: dos\nstart=2048, type=83, bootable\n",
        check=True,
    )
    sectors = size // 512
    subprocess.run(
        [_tool("mke2fs"), "-q", "-F", "-t", "ext4", "-E", f"offset={2048 * 512}", "-d",
         str(stage), str(image), f"{(sectors - 2048) // 2}k"],
        check=True,
    )  # fmt: skip
    core = work / "core.img"
    subprocess.run(
        [_tool("grub-mkimage"), "-O", "i386-pc", "-o", str(core), "-p",
         "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "ext2"],
        check=True,
    )  # fmt: skip
    install.install_grub(image, core.read_bytes())
    return image, env


def measure(image: Path, env: Path, runs: int) -> list[list[str]]:
    sfdisk, editenv = _tool("sfdisk"), _tool("grub-editenv")
    report = explain.explain(image)
    assert report.stage2.resolution.id_path == "adv>lin-b", report.stage2.resolution.id_path

    def floor() -> None:
        subprocess.run([sfdisk, "--json", str(image)], capture_output=True, check=True)
        subprocess.run([editenv, str(env), "list"], capture_output=True, check=True)

    def command() -> None:
        subprocess.run(
            [sys.executable, "-m", "bootup", "boot", "explain", str(image)],
            capture_output=True,
            check=True,
        )

    def interpreter() -> None:
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)

    floor_s = _stats.summarize(_stats.time_runs(floor, runs), higher_is_better=False)
    python = _stats.summarize(_stats.time_runs(interpreter, runs), higher_is_better=False)
    inproc = _stats.summarize(
        _stats.time_runs(lambda: explain.explain(image), runs), higher_is_better=False
    )
    cmd = _stats.summarize(_stats.time_runs(command, runs), higher_is_better=False)
    rows = []
    for name, summary in (
        ("sfdisk --json + grub-editenv list (floor)", floor_s),
        ("explain (in-process)", inproc),
        ("bootup boot explain (command)", cmd),
        ("python -c pass (start-up inside the command)", python),
    ):
        rows.append(
            [
                name,
                _stats.format_ms(summary.median),
                _stats.format_ms(summary.best),
                _stats.format_ratio(_stats.ratio(summary.median, floor_s.median)),
                "PASS" if summary.median < 0.2 else "MISS",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"boot explain benchmark ({args.runs} runs, medians)")
    print("machine:", ", ".join(f"{k}={v}" for k, v in _stats.machine_info().items()))
    with tempfile.TemporaryDirectory(prefix="bootup-bench-") as tmp:
        work = Path(tmp)
        for size in (64 << 20, 4 << 30):
            image, env = build(work, size)
            allocated = image.stat().st_blocks * 512
            print(f"\n{image.name}: {size >> 20} MiB, {allocated >> 20} MiB allocated")
            headers = ["what", "median", "best", "x floor", "< 200 ms"]
            print(_stats.format_table(headers, measure(image, env, args.runs)))


if __name__ == "__main__":
    main()
