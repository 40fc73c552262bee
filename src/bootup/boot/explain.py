"""The whole boot chain, in order, and the validated writers of the default entry.

``explain`` answers "which kernel boots next, and why" for a root directory (a mounted ``/``
or a staging tree with ``boot/grub``) or a disk image. For an image, the disk side (partition
table, boot.img, core.img and its prefix) comes from :mod:`bootup.boot.disk`, and the stage-2
files are read out of the image through it; for a root directory the files are read directly.
Stage 2 is then the same: grubenv → grub.cfg run statically with that environment (plus BLS
entries when it calls ``blscfg``) → the ``default`` value → the matched entry → its kernel,
with a :class:`~bootup.boot.resolve.Finding` for every silent fallback on the way.

``set-default`` and ``reboot-once`` are built on the same analysis: the requested entry is
resolved against the real menu first and refused if GRUB would not boot it; the value written
is the most stable spelling that GRUB resolves to the same entry (the id path, unless ids
start with digits); the new grubenv is simulated through grub.cfg before it is written, so a
write that GRUB would ignore (``GRUB_DEFAULT`` is not ``saved``) is reported, not hidden.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from bootup.boot import bls, defaultgrub, grubcfg
from bootup.boot import grubenv as genv
from bootup.boot._atomic import locked_directory
from bootup.boot.resolve import (
    Finding,
    Flavor,
    Resolution,
    UnresolvedEntryError,
    grub_strtoul,
    resolve_config,
    resolve_value,
)
from bootup.errors import BootFormatError, NotSupportedError

__all__ = (
    "BootFiles",
    "ChainReport",
    "SetOutcome",
    "Stage",
    "StageTwo",
    "analyze_stage2",
    "env_write_problem",
    "explain",
    "render_json",
    "render_resolution_json",
    "render_resolution_text",
    "render_set_json",
    "render_set_text",
    "render_text",
    "resolve_target",
    "classify_env_location",
    "set_entry",
)

#: Filesystems (and block layers) on which GRUB cannot rewrite grubenv in place at boot.
_UNWRITABLE_FS = frozenset({"btrfs", "zfs", "cpiofs", "newc", "odc", "romfs", "squashfs", "tarfs"})
_GRUB_DIRS = ("/boot/grub", "/boot/grub2")


class BootFiles:
    """Read-only access to the files GRUB sees, by absolute path inside the boot tree.

    The default implementation reads below a root directory; an image reader or explicit
    files plug in through ``read``/``listdir`` callables.
    """

    def __init__(
        self,
        description: str,
        read: Callable[[str], bytes | None],
        listdir: Callable[[str], list[str] | None],
        *,
        exists: Callable[[str], bool] | None = None,
    ) -> None:
        self.description = description
        self._read = read
        self._listdir = listdir
        self._exists = exists

    @classmethod
    def from_root(cls, root: str | os.PathLike[str]) -> BootFiles:
        """The files below ``root`` (``/boot/grub/grub.cfg`` is ``root/boot/grub/grub.cfg``)."""
        base = Path(root)

        def host(path: str) -> str:
            return str(base / path.lstrip("/"))

        def read(path: str) -> bytes | None:
            try:
                return Path(host(path)).read_bytes()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None

        def listdir(path: str) -> list[str] | None:
            try:
                return sorted(os.listdir(host(path)))
            except (FileNotFoundError, NotADirectoryError):
                return None

        def exists(path: str) -> bool:
            return os.path.exists(host(path))

        return cls(f"root directory {base}", read, listdir, exists=exists)

    def read(self, path: str) -> bytes | None:
        """The bytes of ``path``, or ``None`` when it is absent."""
        return self._read(path)

    def listdir(self, path: str) -> list[str] | None:
        """The names in directory ``path``, or ``None`` when it is absent."""
        return self._listdir(path)

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists, without reading it (kernels are megabytes)."""
        if self._exists is not None:
            return self._exists(path)
        return self._read(path) is not None


def _strip_device(path: str) -> str:
    """``(hd0,msdos1)/boot/grub`` → ``/boot/grub`` (GRUB paths may name a device first)."""
    if path.startswith("("):
        end = path.find(")")
        if end >= 0:
            return path[end + 1 :] or "/"
    return path


# Stage 2 --------------------------------------------------------------------------------


@dataclass(slots=True)
class StageTwo:
    """Everything GRUB's normal mode reads, and the entry it picks."""

    grub_dir: str
    grub_cfg_path: str
    grubenv_path: str
    env: genv.EnvBlock | None
    config: grubcfg.GrubConfig
    default_grub: defaultgrub.DefaultGrub | None
    bls_entries: list[bls.BlsEntry]
    flavor: Flavor
    resolution: Resolution
    findings: list[Finding] = field(default_factory=list)

    @property
    def entry(self) -> grubcfg.MenuEntry | None:
        """The entry that boots next."""
        return self.resolution.entry


def _probe_for(files: BootFiles) -> grubcfg.FileProbe:
    def probe(op: str, path: str) -> bool | None:
        inner = _strip_device(path)
        if op == "-d":
            return files.listdir(inner) is not None
        data = files.read(inner)
        if op == "-s":
            return data is not None and len(data) > 0
        return data is not None

    return probe


def _reader_for(files: BootFiles) -> grubcfg.FileReader:
    def reader(path: str) -> str | None:
        data = files.read(_strip_device(path))
        return None if data is None else data.decode("utf-8", "surrogateescape")

    return reader


def _find_grub_dir(files: BootFiles, prefix: str | None) -> str:
    if prefix:
        return _strip_device(prefix).rstrip("/") or "/"
    for candidate in _GRUB_DIRS:
        if files.read(f"{candidate}/grub.cfg") is not None:
            return candidate
    for candidate in ("/grub", "/grub2"):  # a separate /boot partition read directly
        if files.read(f"{candidate}/grub.cfg") is not None:
            return candidate
    return _GRUB_DIRS[0]


def _bls_dir(files: BootFiles, grub_dir: str) -> str | None:
    boot = grub_dir.rsplit("/", 1)[0] or "/"
    for candidate in (f"{boot.rstrip('/')}/loader/entries", "/boot/loader/entries"):
        if files.listdir(candidate) is not None:
            return candidate
    return None


def _load_bls(files: BootFiles, directory: str) -> tuple[list[bls.BlsEntry], list[str]]:
    entries: list[bls.BlsEntry] = []
    notes: list[str] = []
    for name in files.listdir(directory) or []:
        if name.startswith(".") or len(name) <= 5 or not name.endswith(".conf"):
            continue
        data = files.read(f"{directory}/{name}")
        if data is None:
            continue
        path = f"{directory}/{name}"
        entry = bls.parse_entry(data.decode("utf-8", "surrogateescape"), name[:-5], path)
        notes.extend(entry.notes)
        if entry.get("linux") is None:
            notes.append(f"{path}: no 'linux' key; blscfg skips it")
            continue
        entries.append(entry)
    return bls.sort_entries(entries), notes


def analyze_stage2(
    files: BootFiles,
    *,
    prefix: str | None = None,
    default_grub_text: tuple[str, str] | None = None,
    flavor: Flavor | str | None = None,
    env_override: Mapping[str, str] | None = None,
    env_problem: str | None = None,
) -> StageTwo:
    """Read grubenv, grub.cfg, /etc/default/grub and BLS entries; resolve the next entry.

    Args:
        files: where GRUB's files are read from.
        prefix: GRUB's ``$prefix`` (from core.img); found by looking when ``None``.
        default_grub_text: ``(path, text)`` of /etc/default/grub, when there is one.
        flavor: force the matching flavor; by default Fedora when grub.cfg runs ``blscfg``.
        env_override: use these grubenv variables instead of the file (a simulation).
        env_problem: why GRUB cannot write grubenv here (from :func:`env_write_problem`).
    """
    grub_dir = _find_grub_dir(files, prefix)
    cfg_path = f"{grub_dir}/grub.cfg"
    env_path = f"{grub_dir}/grubenv"
    findings: list[Finding] = []
    cfg_bytes = files.read(cfg_path)
    if cfg_bytes is None:
        raise BootFormatError(f"{files.description}: no grub.cfg at {cfg_path}")
    env_block: genv.EnvBlock | None = None
    env_vars: dict[str, str] | None = None
    env_bytes = files.read(env_path)
    if env_bytes is not None:
        try:
            env_block = genv.EnvBlock(env_bytes, path=env_path)
        except genv.GrubenvError as exc:
            findings.append(Finding("grubenv-invalid", f"{exc}; GRUB's load_env fails"))
        else:
            env_vars = env_block.variables()
            damage = env_block.damage()
            if damage is not None:
                findings.append(Finding("grubenv-broken", f"{damage}; GRUB stops reading there"))
            if env_block.size != genv.DEFAULT_SIZE:
                findings.append(
                    Finding(
                        "grubenv-size",
                        f"{env_path} is {env_block.size} bytes, not {genv.DEFAULT_SIZE}",
                        "info",
                    )
                )
    if env_override is not None:
        env_vars = dict(env_override)
    if env_vars is not None and "env_block" in env_vars:
        findings.append(
            Finding(
                "env-block-not-read",
                f"grubenv has env_block={env_vars['env_block']!r}: GRUB 2.12+/Fedora keep the "
                f"variables in the file system's reserved area, which is not read here",
            )
        )

    bls_entries: list[bls.BlsEntry] = []
    bls_dir = _bls_dir(files, grub_dir)
    bls_notes: list[str] = []
    if bls_dir is not None:
        bls_entries, bls_notes = _load_bls(files, bls_dir)

    def bls_provider(env: Mapping[str, str]) -> list[grubcfg.MenuEntry]:
        return bls.entries_to_menu(bls_entries, env)

    variables = {"prefix": prefix or grub_dir, "config_directory": grub_dir, "root": ""}
    probe_base = _probe_for(files)
    simulated_env = env_bytes is None and env_override is not None

    def probe(op: str, path: str) -> bool | None:
        if simulated_env and _strip_device(path) == env_path:
            return True
        return probe_base(op, path)

    config = grubcfg.load_config(
        cfg_bytes.decode("utf-8", "surrogateescape"),
        cfg_path,
        grubenv=env_vars,
        variables=variables,
        probe=probe,
        reader=_reader_for(files),
        bls=bls_provider if bls_dir is not None else None,
    )
    chosen_flavor = _pick_flavor(flavor, config)
    resolution = resolve_config(config, chosen_flavor)
    findings.extend(resolution.findings)

    settings: defaultgrub.DefaultGrub | None = None
    if default_grub_text is not None:
        settings = defaultgrub.parse(default_grub_text[1], default_grub_text[0])
        findings.extend(_default_grub_findings(settings, config))

    if config.blscfg_line is not None:
        findings.extend(_bls_findings(bls_entries, bls_notes, resolution))
    findings.extend(_env_findings(config, env_vars, env_problem, resolution.entry))
    findings.extend(_kernel_findings(files, resolution, config))
    findings.extend(
        Finding("not-evaluated", f"{note.path}:{note.line}: {note.message}", "info")
        for note in config.notes
    )
    return StageTwo(
        grub_dir=grub_dir,
        grub_cfg_path=cfg_path,
        grubenv_path=env_path,
        env=env_block,
        config=config,
        default_grub=settings,
        bls_entries=bls_entries,
        flavor=chosen_flavor,
        resolution=resolution,
        findings=findings,
    )


def _pick_flavor(flavor: Flavor | str | None, config: grubcfg.GrubConfig) -> Flavor:
    if flavor is not None:
        return Flavor(flavor)
    return Flavor.FEDORA if config.blscfg_line is not None else Flavor.UPSTREAM


def _baked_default(config: grubcfg.GrubConfig) -> str | None:
    """The ``set default=`` of 00_header's else-branch, as written in grub.cfg (unexpanded)."""
    found: str | None = None
    for assignment in config.assignments:
        if assignment.name != "default" or "next_entry" in assignment.source:
            continue
        match = re.search(r'default=(?:"([^"]*)"|(\S*))', assignment.source)
        if match:
            found = match.group(1) if match.group(1) is not None else match.group(2)
    return found


def _default_grub_findings(
    settings: defaultgrub.DefaultGrub, config: grubcfg.GrubConfig
) -> list[Finding]:
    findings: list[Finding] = [Finding("default-grub-note", n, "info") for n in settings.notes]
    predicted = defaultgrub.predicted_default(settings)
    baked = _baked_default(config)
    if baked is not None and baked != predicted:
        findings.append(
            Finding(
                "grub-cfg-stale",
                f"{settings.path} has GRUB_DEFAULT={settings.get('GRUB_DEFAULT', '')!r}, which "
                f"generates default={predicted!r}, but {config.path} has default={baked!r}; "
                f"grub.cfg is stale: run update-grub (grub-mkconfig -o {config.path})",
            )
        )
    value = settings.get("GRUB_DEFAULT", "") or ""
    if value not in ("", "saved"):
        probe = resolve_value(config.entries, value)
        if not probe.exact:
            findings.append(
                Finding(
                    "grub-default-unresolved",
                    f"GRUB_DEFAULT={value!r} in {settings.path} matches no menu entry; GRUB "
                    f"boots entry 0 (use 'submenu-id>entry-id' ids instead of titles)",
                )
            )
    return findings


def _bls_findings(
    entries: list[bls.BlsEntry], notes: list[str], resolution: Resolution
) -> list[Finding]:
    findings = [Finding("bls-note", note) for note in notes]
    if entries:
        order = ", ".join(entry.id for entry in entries)
        findings.append(
            Finding(
                "bls-order",
                f"the menu comes from BLS entries sorted newest first by blscfg's vercmp of "
                f"the file names: {order}; indices and titles refer to this order, not to "
                f"grub.cfg",
                "info",
            )
        )
        machine_ids = {bls.split_package_string(entry.id)[0] for entry in entries}
        if len(machine_ids) > 1:
            findings.append(
                Finding(
                    "bls-foreign-machine-id",
                    f"entries with {len(machine_ids)} different name prefixes (machine-ids: "
                    f"{', '.join(sorted(machine_ids))}); the prefix sorts first, so an old "
                    f"machine-id's entries can outrank newer kernels",
                )
            )
    return findings


def _env_findings(
    config: grubcfg.GrubConfig,
    env_vars: Mapping[str, str] | None,
    env_problem: str | None,
    entry: grubcfg.MenuEntry | None,
) -> list[Finding]:
    findings: list[Finding] = []
    entry_saves = entry.saves if entry is not None else ()
    one_shot = bool((env_vars or {}).get("next_entry")) and any(
        "next_entry" in a.source for a in config.assignments if a.name == "default"
    )
    for save in entry_saves:
        values = ", ".join(f"{name}={value!r}" for name, value in save.values)
        if one_shot and "saved_entry" in save.names:
            findings.append(
                Finding(
                    "one-shot-saved",
                    f"this one-shot boot still runs savedefault ({values}): inside a submenu "
                    f"boot_once is not visible (not exported), so the one-shot entry becomes "
                    f"the saved default",
                )
            )
            continue
        findings.append(
            Finding(
                "savedefault",
                f"booting this entry runs save_env ({values}): GRUB_SAVEDEFAULT makes the last "
                f"booted entry the default",
                "info",
            )
        )
    if env_problem is None:
        return findings
    if config.save_env or entry_saves or (env_vars or {}).get("next_entry"):
        findings.append(
            Finding(
                "grubenv-not-writable",
                f"GRUB cannot write grubenv here ({env_problem}): save_env fails at boot, so a "
                f"one-shot next_entry stays the default until cleared by hand, and "
                f"GRUB_SAVEDEFAULT does not stick",
            )
        )
    return findings


def _kernel_findings(
    files: BootFiles, resolution: Resolution, config: grubcfg.GrubConfig
) -> list[Finding]:
    entry = resolution.entry
    findings: list[Finding] = []
    if entry is None or entry.linux is None:
        if entry is not None:
            findings.append(
                Finding("no-kernel", f"entry {entry.title!r} has no linux command", "info")
            )
        return findings
    for kind, path in [("kernel", entry.linux), *[("initrd", p) for p in entry.initrd]]:
        inner = _strip_device(path)
        if inner.startswith("/") and not (files.exists(inner) or files.exists("/boot" + inner)):
            findings.append(
                Finding(
                    "kernel-missing",
                    f"the {kind} {path!r} of {entry.title!r} is not in {files.description}; "
                    f"GRUB fails to boot it, then {_fallback_text(config)}",
                )
            )
    return findings


def _fallback_text(config: grubcfg.GrubConfig) -> str:
    """What GRUB does after a failed default: the ``fallback`` list, top-level indices only."""
    value = config.get("fallback")
    if not value:
        return "stops at an error (no 'fallback' is set)"
    picks: list[str] = []
    for word in value.split():
        number = grub_strtoul(word)
        if number is None:
            break
        if number < len(config.entries):
            picks.append(f"{number} {config.entries[number].title!r}")
        else:
            picks.append(f"{number} (no such entry)")
    if not picks:
        return f"stops at an error ('fallback={value}' holds no entry number)"
    return "tries fallback " + ", then ".join(picks)


# Writability of grubenv ---------------------------------------------------------------


def env_write_problem(path: str | os.PathLike[str]) -> str | None:
    """Why GRUB could not rewrite ``path`` in place at boot, or ``None`` if it can.

    GRUB writes grubenv through the file's block list, which fails on btrfs/ZFS (no stable
    block list: "sparse file not allowed"), on LVM/RAID/LUKS (no write support in GRUB's
    diskfilter) and for a sparse file.
    """
    target = Path(path)
    probe = target if target.exists() else target.parent
    try:
        info = probe.stat()
    except OSError:
        return None
    if target.exists() and target.is_file() and info.st_blocks * 512 < info.st_size:
        return "the file is sparse"
    mount = _mount_of(info.st_dev)
    if mount is None:
        return None
    fstype, source = mount
    return classify_env_location(fstype, source)


def classify_env_location(fstype: str, source: str) -> str | None:
    """The reason a filesystem type / block source keeps GRUB from writing, or ``None``."""
    if fstype in _UNWRITABLE_FS:
        return f"{fstype} filesystem"
    if source.startswith("/dev/mapper/") or source.startswith("/dev/dm-"):
        return f"device-mapper device {source} (LVM/LUKS)"
    if re.match(r"/dev/md\d*", source):
        return f"software RAID device {source}"
    return None


def _mount_of(device: int) -> tuple[str, str] | None:
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[2] != wanted or "-" not in fields:
            continue
        dash = fields.index("-")
        return fields[dash + 1], fields[dash + 2]
    return None


# The chain ------------------------------------------------------------------------------


@dataclass(slots=True)
class Stage:
    """One link of the chain, with facts in reading order and its findings."""

    name: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass(slots=True)
class ChainReport:
    """The chain of one target, stage by stage."""

    target: str
    kind: str
    stages: list[Stage]
    stage2: StageTwo
    disk: Any = None


def _disk_modules() -> tuple[ModuleType, ModuleType]:
    try:
        return (
            importlib.import_module("bootup.boot.disk"),
            importlib.import_module("bootup.boot.ext4"),
        )
    except ModuleNotFoundError as exc:
        raise NotSupportedError(
            "explaining a disk image is not supported yet (bootup.boot.disk is missing); "
            "explain a root directory instead"
        ) from exc


@dataclass(slots=True)
class _ImageBoot:
    """The /boot file system of an image, opened once (GRUB's view of stage 2)."""

    image: str
    report: Any
    offset: int
    prefix: str | None
    files: BootFiles
    fs: Any

    def close(self) -> None:
        self.fs.close()


def _open_image(image: Path) -> _ImageBoot:
    disk, ext4 = _disk_modules()
    report = disk.inspect_disk(image)
    prefix: str | None = report.core.prefix if report.core is not None else None
    part = report.prefix_partition() or next(
        (p for p in report.partitions if (p.filesystem or "").startswith("ext")), None
    )
    if part is None:
        raise BootFormatError(
            f"{image}: no partition GRUB's prefix names and no ext2/3/4 partition to read "
            f"stage 2 from (prefix {prefix!r})"
        )
    if not (part.filesystem or "").startswith("ext"):
        raise NotSupportedError(
            f"{image}: reading stage 2 from a {part.filesystem or 'unknown'} file system "
            f"(partition {part.number}) is not supported yet; only ext2/3/4"
        )
    fs = ext4.Ext4(str(image), part.offset)
    lookup_errors = (BootFormatError, LookupError, NotSupportedError)

    def read(path: str) -> bytes | None:
        try:
            data = fs.read_path(path)
        except lookup_errors:
            return None
        return data if isinstance(data, bytes) else None

    def listdir(path: str) -> list[str] | None:
        try:
            return sorted(entry.name for entry in fs.listdir(path))
        except lookup_errors:
            return None

    def exists(path: str) -> bool:
        try:
            fs.lookup(path)
        except lookup_errors:
            return False
        return True

    files = BootFiles(f"partition {part.number} of {image}", read, listdir, exists=exists)
    grub_prefix = disk.parse_prefix(prefix).path if prefix else None
    return _ImageBoot(str(image), report, part.offset, grub_prefix, files, fs)


def _image_env_problem(boot: _ImageBoot, env_path: str) -> str | None:
    try:
        inode = boot.fs.lookup(env_path)
        ranges = boot.fs.file_ranges(inode)
    except (BootFormatError, LookupError, NotSupportedError):
        return None
    if sum(length for _offset, _disk, length in ranges) != inode.size:
        return "the file has holes or unwritten extents (GRUB refuses sparse files)"
    return None


def explain(target: str | os.PathLike[str], *, flavor: Flavor | str | None = None) -> ChainReport:
    """The chain for a root directory or a disk image file."""
    path = Path(target)
    if path.is_dir():
        return _explain_root(path, flavor)
    if path.is_file():
        return _explain_image(path, flavor)
    raise BootFormatError(f"{path}: no such directory or disk image")


def _explain_root(root: Path, flavor: Flavor | str | None) -> ChainReport:
    files = BootFiles.from_root(root)
    default_path = root / "etc/default/grub"
    default_text = (
        (str(default_path), default_path.read_text(encoding="utf-8", errors="surrogateescape"))
        if default_path.is_file()
        else None
    )
    grub_dir = _find_grub_dir(files, None)
    problem = env_write_problem(root / grub_dir.lstrip("/") / "grubenv")
    stage2 = analyze_stage2(
        files, default_grub_text=default_text, flavor=flavor, env_problem=problem
    )
    stages = [
        Stage(
            "firmware and stage 1",
            [("target", f"root directory {root}"), ("stage 1/1.5", "not part of a directory")],
        )
    ]
    stages.extend(_stage2_stages(stage2))
    return ChainReport(str(root), "root", stages, stage2)


def _explain_image(image: Path, flavor: Flavor | str | None) -> ChainReport:
    boot = _open_image(image)
    try:
        grub_dir = _find_grub_dir(boot.files, boot.prefix)
        default_text = boot.files.read("/etc/default/grub")
        stage2 = analyze_stage2(
            boot.files,
            prefix=boot.prefix,
            flavor=flavor,
            default_grub_text=(
                ("/etc/default/grub", default_text.decode("utf-8", "surrogateescape"))
                if default_text is not None
                else None
            ),
            env_problem=_image_env_problem(boot, f"{grub_dir}/grubenv"),
        )
    finally:
        boot.close()
    stages = _disk_stages(boot.report)
    stages.extend(_stage2_stages(stage2))
    return ChainReport(str(image), "image", stages, stage2, disk=boot.report)


def _disk_stages(report: Any) -> list[Stage]:
    table = Stage(
        "partition table", [("label", str(report.label)), ("disk id", str(report.disk_id))]
    )
    for part in report.partitions:
        flags = " bootable" if part.bootable else ""
        table.facts.append(
            (
                f"partition {part.number}",
                f"start {part.start} size {part.size} type {part.type_name or part.type}"
                f"{flags} fs {part.filesystem or '?'}",
            )
        )
    stage1 = Stage("stage 1 (boot.img in the MBR)", [("GRUB boot.img", str(report.stage1.is_grub))])
    if report.stage1.is_grub:
        stage1.facts.append(("kernel_sector (core.img LBA)", str(report.stage1.kernel_sector)))
        drive = report.stage1.boot_drive
        stage1.facts.append(
            ("boot drive", "0xff (use %dl from the BIOS)" if drive == 0xFF else f"{drive:#04x}")
        )
        stage1.facts.append(("drive check disabled", str(report.stage1.drive_check_disabled)))
    core = Stage("stage 1.5 (core.img)")
    if report.core is None:
        core.facts.append(("core.img", "not found"))
    else:
        c = report.core
        core.facts.append(("LBA", str(c.lba)))
        core.facts.append(("size", f"{c.size} bytes, {c.sectors} sectors"))
        if c.embedding_area is not None:
            core.facts.append(
                ("embedding area", f"{c.embedding_area} ({c.embedding_sectors} sectors)")
            )
        core.facts.append(("prefix", str(c.prefix)))
        core.facts.append(("modules", ", ".join(c.modules)))
        if c.config:
            core.facts.append(("embedded config", c.config))
    core.findings = [Finding("disk", warning) for warning in report.warnings]
    return [table, stage1, core]


def _stage2_stages(stage2: StageTwo) -> list[Stage]:
    config = stage2.config
    env_stage = Stage("grubenv", [("file", stage2.grubenv_path)])
    if stage2.env is None:
        env_stage.facts.append(("state", "absent (load_env reads nothing)"))
    else:
        for name, value in stage2.env.items():
            env_stage.facts.append((name, value))
    menu = Stage("grub.cfg", [("file", stage2.grub_cfg_path), ("flavor", stage2.flavor.value)])
    for path, item in _entry_lines(config.entries):
        kind = "submenu" if item.is_submenu else "entry"
        menu.facts.append((kind, f"{path}  {item.title!r}"))
    for name in ("default", "fallback", "timeout"):
        if name in config.variables:
            menu.facts.append((name, config.variables[name]))
    pick = Stage("default entry", [])
    for reason in stage2.resolution.reasons:
        pick.facts.append(("reason", reason))
    entry = stage2.entry
    kernel = Stage("kernel", [])
    if entry is not None:
        pick.facts.append(("boots", f"{stage2.resolution.title_path}"))
        pick.facts.append(("id path", stage2.resolution.id_path))
        if entry.linux is not None:
            kernel.facts.append(("linux", " ".join([entry.linux, *entry.linux_args])))
        for initrd in entry.initrd:
            kernel.facts.append(("initrd", initrd))
    pick.findings = list(stage2.findings)
    return [env_stage, menu, pick, kernel]


def _entry_lines(
    entries: list[grubcfg.MenuEntry], prefix: str = "", index_prefix: str = ""
) -> list[tuple[str, grubcfg.MenuEntry]]:
    out: list[tuple[str, grubcfg.MenuEntry]] = []
    for index, entry in enumerate(entries):
        label = f"{index_prefix}{index}"
        path = prefix + entry.id.replace(">", ">>")
        out.append((f"[{label}] {path}", entry))
        if entry.is_submenu:
            out.extend(_entry_lines(entry.children, path + ">", label + ">"))
    return out


def render_text(report: ChainReport) -> str:
    """The chain for people: one block per stage, warnings marked."""
    lines = [f"boot chain of {report.target}"]
    resolution = report.stage2.resolution
    entry = resolution.entry
    warnings = [f for stage in report.stages for f in stage.findings if f.level == "warning"]
    if entry is None:
        lines.append("next boot: nothing (empty menu)")
    else:
        kernel = f", kernel {entry.linux}" if entry.linux else ""
        lines.append(f"next boot: {resolution.title_path} [{resolution.id_path}]{kernel}")
    lines.append(f"warnings: {len(warnings)}")
    for number, stage in enumerate(report.stages, start=1):
        lines.append(f"{number}. {stage.name}")
        for key, value in stage.facts:
            lines.append(f"   {key}: {value}")
        for finding in stage.findings:
            mark = "warning" if finding.level == "warning" else "note"
            lines.append(f"   {mark} [{finding.code}]: {finding.message}")
    return "\n".join(lines) + "\n"


def _entry_json(entry: grubcfg.MenuEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "title": entry.title,
        "id": entry.id,
        "kind": entry.kind,
        "line": entry.line,
        "linux": entry.linux,
        "linux_args": list(entry.linux_args),
        "initrd": list(entry.initrd),
        "origin": entry.origin,
    }


def _resolution_json(resolution: Resolution) -> dict[str, Any]:
    return {
        "value": resolution.value,
        "flavor": resolution.flavor.value,
        "exact": resolution.exact,
        "id_path": resolution.id_path,
        "index_path": resolution.index_path,
        "title_path": resolution.title_path,
        "entry": _entry_json(resolution.entry),
        "steps": [
            {"level": s.level, "component": s.component, "index": s.index, "how": s.how}
            for s in resolution.steps
        ],
        "reasons": list(resolution.reasons),
        "findings": [_finding_json(f) for f in resolution.findings],
    }


def _finding_json(finding: Finding) -> dict[str, str]:
    return {"code": finding.code, "level": finding.level, "message": finding.message}


def _menu_json(entries: list[grubcfg.MenuEntry], prefix: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in entries:
        path = prefix + entry.id.replace(">", ">>")
        item = _entry_json(entry) or {}
        item["id_path"] = path
        if entry.is_submenu:
            item["children"] = _menu_json(entry.children, path + ">")
        out.append(item)
    return out


def render_json(report: ChainReport) -> str:
    """The chain as a JSON document."""
    stage2 = report.stage2
    document = {
        "target": report.target,
        "kind": report.kind,
        "stages": [
            {
                "name": stage.name,
                "facts": [[k, v] for k, v in stage.facts],
                "findings": [_finding_json(f) for f in stage.findings],
            }
            for stage in report.stages
        ],
        "grubenv": {
            "path": stage2.grubenv_path,
            "variables": dict(stage2.env.items()) if stage2.env is not None else None,
        },
        "grub_cfg": stage2.grub_cfg_path,
        "menu": _menu_json(stage2.config.entries),
        "default": stage2.config.variables.get("default"),
        "resolution": _resolution_json(stage2.resolution),
        "findings": [_finding_json(f) for f in stage2.findings],
    }
    to_json = getattr(report.disk, "to_json", None)
    if callable(to_json):
        document["disk"] = to_json()
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)


# resolve / set-default / reboot-once --------------------------------------------------


@dataclass(slots=True)
class _Target:
    """Where stage 2 is read from and how grubenv is written back."""

    files: BootFiles
    grubenv_file: str
    default_grub: tuple[str, str] | None
    env_problem: str | None
    prefix: str | None = None
    read_env: Callable[[], bytes | None] | None = None
    write_env: Callable[[bytes], None] | None = None
    close: Callable[[], None] | None = None
    reopen: Callable[[], _Target] | None = None


def _image_target(image: str) -> _Target:
    boot = _open_image(Path(image))
    grub_dir = _find_grub_dir(boot.files, boot.prefix)
    env_path = f"{grub_dir}/grubenv"
    _disk, ext4 = _disk_modules()

    def write(data: bytes) -> None:
        boot.close()
        ext4.rewrite_file_in_place(image, boot.offset, env_path, data)

    default_text = boot.files.read("/etc/default/grub")
    return _Target(
        files=boot.files,
        grubenv_file=f"{image}:{env_path}",
        default_grub=(
            ("/etc/default/grub", default_text.decode("utf-8", "surrogateescape"))
            if default_text is not None
            else None
        ),
        env_problem=_image_env_problem(boot, env_path),
        prefix=boot.prefix,
        read_env=lambda: boot.files.read(env_path),
        write_env=write,
        close=boot.close,
        reopen=lambda: _image_target(image),
    )


def _target(
    *,
    root: str | None,
    grubenv: str | None,
    grub_cfg: str | None,
    default_grub: str | None,
    image: str | None = None,
) -> _Target:
    if image is not None:
        return _image_target(image)
    if grub_cfg is not None or grubenv is not None:
        if grub_cfg is None or grubenv is None:
            raise BootFormatError("--grubenv and --grub-cfg go together (or use --root DIR)")
        mapping = {"/boot/grub/grub.cfg": grub_cfg, "/boot/grub/grubenv": grubenv}

        def read(path: str) -> bytes | None:
            host = mapping.get(path)
            if host is None and root is not None:
                host = str(Path(root) / path.lstrip("/"))
            if host is None:
                return None
            try:
                return Path(host).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None

        def listdir(_path: str) -> list[str] | None:
            return None

        files = BootFiles(f"files {grub_cfg} and {grubenv}", read, listdir)
        env_file = grubenv
    else:
        base = Path(root or "/")
        files = BootFiles.from_root(base)
        env_file = str(base / _find_grub_dir(files, None).lstrip("/") / "grubenv")
    default_path = default_grub
    if default_path is None and grub_cfg is None:
        candidate = Path(root or "/") / "etc/default/grub"
        default_path = str(candidate) if candidate.is_file() else None
    default_text = None
    if default_path is not None:
        default_text = (
            default_path,
            Path(default_path).read_text(encoding="utf-8", errors="surrogateescape"),
        )
    return _Target(files, env_file, default_text, env_write_problem(env_file))


def resolve_target(
    *,
    root: str | None = None,
    grubenv: str | None = None,
    grub_cfg: str | None = None,
    default_grub: str | None = None,
    flavor: Flavor | str | None = None,
) -> StageTwo:
    """Stage 2 of a root directory or of explicit files: the entry that boots next and why."""
    target = _target(root=root, grubenv=grubenv, grub_cfg=grub_cfg, default_grub=default_grub)
    return analyze_stage2(
        target.files,
        default_grub_text=target.default_grub,
        flavor=flavor,
        env_problem=target.env_problem,
    )


def render_resolution_text(stage2: StageTwo) -> str:
    """``bootup boot resolve`` output: the entry, then the reasons, then the findings."""
    resolution = stage2.resolution
    entry = resolution.entry
    lines = []
    if entry is None:
        lines.append("next boot: nothing (the menu is empty)")
    else:
        lines.append(f"next boot: {resolution.title_path}")
        lines.append(f"  id path: {resolution.id_path}")
        if entry.linux is not None:
            lines.append(f"  linux: {' '.join([entry.linux, *entry.linux_args])}")
    lines.append("why:")
    lines.extend(f"  - {reason}" for reason in resolution.reasons)
    for finding in stage2.findings:
        mark = "warning" if finding.level == "warning" else "note"
        lines.append(f"{mark} [{finding.code}]: {finding.message}")
    return "\n".join(lines) + "\n"


def render_resolution_json(stage2: StageTwo) -> str:
    """``bootup boot resolve --json``."""
    document = _resolution_json(stage2.resolution)
    document["findings"] = [_finding_json(f) for f in stage2.findings]
    return json.dumps(document, indent=2, ensure_ascii=False)


@dataclass(slots=True)
class SetOutcome:
    """What ``set-default``/``reboot-once`` wrote and what boots afterwards."""

    variable: str
    value: str
    grubenv_path: str
    requested: Resolution
    after: StageTwo
    effective: bool
    advice: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when the next boot(s) will use the written value, 1 when more must change."""
        return 0 if self.effective else 1


def _stable_spelling(entries: list[grubcfg.MenuEntry], wanted: Resolution, flavor: Flavor) -> str:
    """The value to store: id path, else title path, else index path, whichever GRUB resolves."""
    chain = [id(step.entry) for step in wanted.steps]
    title_path = ">".join(step.entry.title.replace(">", ">>") for step in wanted.steps)
    for candidate in (wanted.id_path, title_path, wanted.index_path):
        check = resolve_value(entries, candidate, flavor)
        if check.exact and [id(step.entry) for step in check.steps] == chain:
            return candidate
    return wanted.index_path


def set_entry(
    entry: str,
    *,
    variable: str,
    root: str | None = None,
    grubenv: str | None = None,
    grub_cfg: str | None = None,
    default_grub: str | None = None,
    image: str | None = None,
    flavor: Flavor | str | None = None,
) -> SetOutcome:
    """Validate ``entry`` against the real menu, write ``variable`` to grubenv, re-resolve.

    ``variable`` is ``saved_entry`` (set-default: also unsets ``next_entry`` and
    ``prev_saved_entry``, as grub-set-default does) or ``next_entry`` (reboot-once).
    Raises :class:`UnresolvedEntryError` when GRUB would not boot what ``entry`` names.
    """
    if variable not in ("saved_entry", "next_entry"):
        raise ValueError(f"variable must be saved_entry or next_entry, not {variable!r}")
    target = _target(
        root=root, grubenv=grubenv, grub_cfg=grub_cfg, default_grub=default_grub, image=image
    )
    try:
        return _set_entry(target, entry, variable, flavor)
    finally:
        if target.close is not None:
            target.close()


def _set_entry(
    target: _Target, entry: str, variable: str, flavor: Flavor | str | None
) -> SetOutcome:
    before = analyze_stage2(
        target.files,
        prefix=target.prefix,
        default_grub_text=target.default_grub,
        flavor=flavor,
        env_problem=target.env_problem,
    )
    entries = before.config.entries
    requested = resolve_value(entries, entry, before.flavor)
    if requested.entry is None:
        raise UnresolvedEntryError(entry, [Finding("empty-menu", "the menu has no entries")])
    bad = [f for f in requested.warnings() if f.code != "index-default"]
    if not requested.exact or any(f.code == "digit-leading-id" for f in bad):
        raise UnresolvedEntryError(entry, bad or requested.findings)
    value = _stable_spelling(entries, requested, before.flavor)

    lock = (
        contextlib.nullcontext()
        if target.write_env is not None
        else locked_directory(target.grubenv_file)
    )
    with lock:
        if target.read_env is not None:
            current = target.read_env()
            if current is None:
                raise BootFormatError(
                    f"{target.grubenv_file}: missing; GRUB cannot create it at boot "
                    f"(create it with grub-editenv when building the image)"
                )
            block = genv.EnvBlock(current, path=target.grubenv_file)
        else:
            try:
                block = genv.load(target.grubenv_file)
            except FileNotFoundError:
                block = genv.EnvBlock.create(path=target.grubenv_file)
        if variable == "saved_entry":
            block.unset("prev_saved_entry")
            block.unset("next_entry")
        block.set(variable, value)

        simulated = analyze_stage2(
            target.files,
            prefix=target.prefix,
            default_grub_text=target.default_grub,
            flavor=before.flavor,
            env_override=block.variables(),
            env_problem=target.env_problem,
        )
        effective = _same_chain(requested, simulated.resolution)
        advice = _advice(variable, simulated, effective, target)

        if target.write_env is not None:
            target.write_env(block.to_bytes())
        else:
            genv.save(block, target.grubenv_file)
    reread = target.reopen() if target.reopen is not None else target
    try:
        after = analyze_stage2(
            reread.files,
            prefix=reread.prefix,
            default_grub_text=reread.default_grub,
            flavor=before.flavor,
            env_problem=reread.env_problem,
        )
    finally:
        if reread is not target and reread.close is not None:
            reread.close()
    return SetOutcome(variable, value, target.grubenv_file, requested, after, effective, advice)


def _same_chain(left: Resolution, right: Resolution) -> bool:
    return [(s.index, s.entry.id, s.entry.title) for s in left.steps] == [
        (s.index, s.entry.id, s.entry.title) for s in right.steps
    ]


def _advice(variable: str, simulated: StageTwo, effective: bool, target: _Target) -> list[str]:
    advice: list[str] = []
    if not effective:
        if variable == "saved_entry":
            settings = simulated.default_grub
            setting = settings.get("GRUB_DEFAULT", "") if settings is not None else None
            if setting == "saved":
                advice.append(
                    "/etc/default/grub already has GRUB_DEFAULT=saved but grub.cfg was generated "
                    "without it: regenerate it (update-grub, or grub-mkconfig -o "
                    f"{simulated.grub_cfg_path})"
                )
            else:
                advice.append(
                    f"grub.cfg does not read saved_entry (GRUB_DEFAULT={setting!r}): set "
                    "GRUB_DEFAULT=saved in /etc/default/grub, then regenerate grub.cfg "
                    "(update-grub)"
                )
        else:
            advice.append(
                "grub.cfg does not read next_entry (it lacks 00_header's next_entry block): the "
                "one-shot entry has no effect"
            )
    if target.env_problem is not None and variable == "next_entry":
        advice.append(
            f"GRUB cannot clear next_entry at boot ({target.env_problem}): it will remain the "
            "default boot entry until cleared by hand (bootup boot env FILE unset next_entry)"
        )
    return advice


def render_set_text(outcome: SetOutcome) -> str:
    """What was written, what boots next, and what else must change."""
    after = outcome.after.resolution
    lines = [
        f"wrote {outcome.variable}={outcome.value!r} to {outcome.grubenv_path}",
        f"requested: {outcome.requested.title_path} ({outcome.requested.id_path})",
        f"next boot: {after.title_path} ({after.id_path})",
    ]
    entry = after.entry
    if entry is not None and entry.linux is not None:
        lines.append(f"  linux: {' '.join([entry.linux, *entry.linux_args])}")
    if not outcome.effective:
        lines.append("NOT EFFECTIVE: GRUB will not use this value as things stand")
    lines.extend(f"action needed: {item}" for item in outcome.advice)
    return "\n".join(lines) + "\n"


def render_set_json(outcome: SetOutcome) -> str:
    """``set-default``/``reboot-once`` ``--json``."""
    document = {
        "variable": outcome.variable,
        "value": outcome.value,
        "grubenv": outcome.grubenv_path,
        "effective": outcome.effective,
        "advice": outcome.advice,
        "requested": _resolution_json(outcome.requested),
        "next_boot": _resolution_json(outcome.after.resolution),
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
