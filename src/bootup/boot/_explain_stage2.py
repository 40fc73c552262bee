"""Stage 2 of the chain: grubenv, grub.cfg and BLS entries, down to the kernel that boots.

Why a module of its own: stage 2 is the same for a root directory and for a disk image, and
``set-default``/``reboot-once`` re-run it on a simulated grubenv: grubenv → grub.cfg run
statically with that environment (plus BLS entries when it calls ``blscfg``) → the
``default`` value → the matched entry → its kernel, with a
:class:`~bootup.boot.resolve.Finding` for every silent fallback on the way. :class:`BootFiles`
is how it reads files, wherever they are. Public through :mod:`bootup.boot.explain`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bootup.boot import bls, defaultgrub, grubcfg
from bootup.boot import grubenv as genv
from bootup.boot._grubscript import GrubCfgError
from bootup.boot.resolve import (
    Finding,
    Flavor,
    Resolution,
    grub_strtoul,
    resolve_config,
    resolve_value,
)
from bootup.errors import BootFormatError

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
        name: Callable[[str], str] | None = None,
    ) -> None:
        self.description = description
        self._read = read
        self._listdir = listdir
        self._exists = exists
        self._name = name

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

        return cls(f"root directory {base}", read, listdir, exists=exists, name=host)

    def read(self, path: str) -> bytes | None:
        """The bytes of ``path``, or ``None`` when it is absent."""
        return self._read(path)

    def name(self, path: str) -> str:
        """The file behind GRUB's ``path`` as the user knows it, for messages.

        A root directory's or an explicitly given file's host path; GRUB's own path when
        nothing better is known (a file inside a disk image).
        """
        return self._name(path) if self._name is not None else path

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
    env_problem_text: str | None = None
    if env_bytes is not None:
        try:
            env_block = genv.EnvBlock(env_bytes, path=files.name(env_path))
        except genv.GrubenvError as exc:
            # grub-core/lib/envblk.c: grub_envblk_open fails, load_env prints the error and
            # leaves every variable unset.
            env_problem_text = f"{files.name(env_path)} is not a GRUB environment block"
            findings.append(
                Finding(
                    "grubenv-invalid",
                    f"{exc}; GRUB's load_env fails with 'error: invalid environment block.' "
                    "and sets no variable",
                )
            )
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

    try:
        config = grubcfg.load_config(
            cfg_bytes.decode("utf-8", "surrogateescape"),
            cfg_path,
            grubenv=env_vars,
            grubenv_problem=env_problem_text if env_override is None else None,
            variables=variables,
            probe=probe,
            reader=_reader_for(files),
            bls=bls_provider if bls_dir is not None else None,
        )
    except GrubCfgError as exc:
        if exc.path != cfg_path or files.name(cfg_path) == cfg_path:
            raise
        # GRUB's path means little when the user gave another file: name that file.
        raise GrubCfgError(files.name(cfg_path), exc.line, exc.expected, exc.found) from None
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
