"""One module per group of verbs; each defines ``register(subparsers)``.

Keep module-level imports light (argparse and typing only): every module here is imported
on every ``bootup`` invocation.
"""

from __future__ import annotations
