"""Singleflight tests: make the helper modules of this directory importable by their names.

pytest runs with ``--import-mode=importlib``, which does not put a test's directory on
``sys.path``; mypy sees the files of this directory as top-level modules (``sf_helpers``,
``redis_server``), so the runtime does the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
