"""``python -m bootup.cli``."""

from __future__ import annotations

import sys

from bootup.cli import main

sys.exit(main())
