"""The whole chain in order, for a root directory or a disk image, and its text and JSON reports.

Why a module of its own: this is ``explain`` proper. For an image the disk side (partition
table, boot.img, core.img and its prefix) comes from :mod:`bootup.boot.disk` and the stage-2
files are read out of the image through it; for a root directory the files are read directly.
Public through :mod:`bootup.boot.explain`.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from bootup.boot import grubcfg
from bootup.boot._explain_env import env_write_problem
from bootup.boot._explain_stage2 import BootFiles, StageTwo, _find_grub_dir, analyze_stage2
from bootup.boot.resolve import Finding, Flavor, Resolution
from bootup.errors import BootFormatError, NotSupportedError


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
