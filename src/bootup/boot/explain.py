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

The parts live in private modules, re-exported here: ``_explain_stage2`` (stage 2),
``_explain_chain`` (the chain and its reports), ``_explain_set`` (the writers) and
``_explain_env`` (whether GRUB can rewrite grubenv at boot).
"""

from __future__ import annotations

from bootup.boot._explain_chain import ChainReport, Stage, explain, render_json, render_text
from bootup.boot._explain_env import classify_env_location, env_write_problem
from bootup.boot._explain_set import (
    SetOutcome,
    render_resolution_json,
    render_resolution_text,
    render_set_json,
    render_set_text,
    resolve_target,
    set_entry,
)
from bootup.boot._explain_stage2 import BootFiles, StageTwo, analyze_stage2

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
