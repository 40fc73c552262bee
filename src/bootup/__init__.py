"""bootup: the Linux boot-and-startup chain in Python.

Three pillars live in subpackages and do not re-export each other:

* :mod:`bootup.units`, :mod:`bootup.transaction`, :mod:`bootup.runtime`, :mod:`bootup.control`:
  a systemd-compatible service manager;
* :mod:`bootup.boot`: MBR/GPT, GRUB2 stages, grubenv, kernel images and initramfs;
* :mod:`bootup.singleflight`: duplicate-call suppression (Go's x/sync/singleflight).
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"
