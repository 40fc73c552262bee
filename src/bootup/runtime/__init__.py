"""bootup.runtime: not written yet; see the open issues."""

from __future__ import annotations
