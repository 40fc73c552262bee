"""A worker that crashes on its first run under each manager, then does its job.

The crash shows Restart=on-failure at work: the manager restarts it after RestartSec=. The
"first run" is remembered per manager in $WEBAPP_MARKER (keyed by $MANAGERPID).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import urllib.request


def main() -> None:
    """Crash once per manager, then fetch the API's items every two seconds until SIGTERM."""
    marker = os.environ["WEBAPP_MARKER"]
    manager = os.environ.get("MANAGERPID", "")
    try:
        with open(marker) as f:
            seen = f.read().strip()
    except FileNotFoundError:
        seen = ""
    if seen != manager:
        with open(marker, "w") as f:
            f.write(manager)
        print("worker: simulated crash on first start (exit 1)", file=sys.stderr, flush=True)
        sys.exit(1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    with open(os.environ["WEBAPP_PORT_FILE"]) as f:
        port = int(f.read())
    while not stop.is_set():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/items", timeout=5) as response:
            items = json.load(response)
        print(f"worker: processed {len(items)} items", flush=True)
        stop.wait(2.0)
    print("worker: stopped cleanly", flush=True)


if __name__ == "__main__":
    main()
