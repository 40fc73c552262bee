"""A Type=notify HTTP API: binds 127.0.0.1 on a free port, then tells the manager READY=1.

The sd_notify datagram protocol is spoken directly (sd_notify(3)): one AF_UNIX datagram of
newline-separated KEY=VALUE lines to $NOTIFY_SOCKET. No dependency needed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def notify(message: str) -> None:
    """Send one sd_notify message (no-op outside a manager)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)


class Handler(BaseHTTPRequestHandler):
    """GET /health and GET /items (JSON from the migrated database)."""

    def do_GET(self) -> None:
        """Serve the two endpoints."""
        if self.path == "/health":
            body: object = {"status": "ok"}
        elif self.path == "/items":
            with sqlite3.connect(os.environ["WEBAPP_DB"]) as db:
                body = [name for (name,) in db.execute("SELECT name FROM items ORDER BY id")]
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Access log to stdout, which the manager stores in its journal."""
        print(f"{self.address_string()} {format % args}", flush=True)


def main() -> None:
    """Bind, publish the port, notify READY=1, serve until SIGTERM."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    port_file = os.environ["WEBAPP_PORT_FILE"]
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, port_file)

    def stop(signum: int, frame: object) -> None:
        notify("STOPPING=1")
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    notify(f"READY=1\nSTATUS=listening on http://127.0.0.1:{port}")
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()
    print("api stopped", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
