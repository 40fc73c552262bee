"""``resolve``, ``set-default`` and ``reboot-once``: validated writers of the default entry.

Why a module of its own: the requested entry is resolved against the real menu first and
refused if GRUB would not boot it; the value written is the most stable spelling that GRUB
resolves to the same entry (the id path, unless ids start with digits); the new grubenv is
simulated through grub.cfg before it is written, so a write that GRUB would ignore
(``GRUB_DEFAULT`` is not ``saved``) is reported, not hidden. Public through
:mod:`bootup.boot.explain`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bootup.boot import grubcfg
from bootup.boot import grubenv as genv
from bootup.boot._atomic import locked_directory
from bootup.boot._explain_chain import (
    _disk_modules,
    _finding_json,
    _image_env_problem,
    _open_image,
    _resolution_json,
)
from bootup.boot._explain_env import env_write_problem
from bootup.boot._explain_stage2 import BootFiles, StageTwo, _find_grub_dir, analyze_stage2
from bootup.boot._inputs import read_input
from bootup.boot.resolve import Finding, Flavor, Resolution, UnresolvedEntryError, resolve_value
from bootup.errors import BootFormatError


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

        def name(path: str) -> str:
            host = mapping.get(path)
            if host is None and root is not None:
                host = str(Path(root) / path.lstrip("/"))
            return host if host is not None else path

        read_input(grub_cfg, "the grub.cfg (--grub-cfg)")  # missing: say so, not "no grub.cfg"
        files = BootFiles(f"files {grub_cfg} and {grubenv}", read, listdir, name=name)
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
            read_input(default_path, "/etc/default/grub (--default-grub)").decode(
                "utf-8", "surrogateescape"
            ),
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
