"""Explaining the startup: dependency trees, dot graphs and "why is this unit here".

Renderers are pure functions from the loaded units and transactions to text, so the CLI,
the control socket and tests share them.
"""

from __future__ import annotations
