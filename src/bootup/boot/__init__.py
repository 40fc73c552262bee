"""The boot chain: BIOS → GRUB boot.img → core.img → grub.cfg/grubenv/BLS → kernel → initramfs.

The subsystem modules are public by name and import nothing from bootup but
:mod:`bootup.errors`:

* :mod:`bootup.boot.grubenv`: the 1024-byte GRUB environment block, byte-compatible with
  ``grub-editenv``;
* :mod:`bootup.boot.grubcfg`: the static menu tree of a ``grub.cfg`` (entries, submenus, id
  paths, the default logic of Debian's ``00_header``);
* :mod:`bootup.boot.defaultgrub`: ``/etc/default/grub`` and what ``grub-mkconfig`` bakes from it;
* :mod:`bootup.boot.bls`: Boot Loader Specification entries in GRUB's ``blscfg`` order;
* :mod:`bootup.boot.resolve`: which entry boots next, and every silent fallback on the way;
* :mod:`bootup.boot.explain`: the whole chain of a disk image or a root directory, and the
  validated writers behind ``bootup boot set-default`` / ``reboot-once``.

The disk side (MBR/GPT, boot.img, core.img) and the kernel side (bzImage, initramfs) live in
their own modules of this package.
"""

from __future__ import annotations
