"""One-shot migration: create the schema and seed rows (idempotent), then exit 0."""

from __future__ import annotations

import os
import sqlite3

SCHEMA = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"
SEED = ("boot loader", "kernel", "initramfs", "service manager")


def main() -> None:
    """Apply the schema to $WEBAPP_DB."""
    path = os.environ["WEBAPP_DB"]
    with sqlite3.connect(path) as db:
        db.execute(SCHEMA)
        db.executemany("INSERT OR IGNORE INTO items (name) VALUES (?)", [(n,) for n in SEED])
        count = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    print(f"migrated {path}: {count} items", flush=True)


if __name__ == "__main__":
    main()
