"""SIGHUP to ``bootup up`` reloads the unit files, as SIGHUP to systemd does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bootup.control.address import project_socket
from bootup.control.client import Client
from bootup.runtime.project import write_units

M = "io.bootup.Manager"


def test_sighup_reloads_a_running_project(tmp_path: Path) -> None:
    write_units(
        tmp_path,
        {
            "web.service": "[Unit]\nDescription=Old\n[Service]\nExecStart=/bin/sleep 600\n",
            "multi-user.target.wants/web.service": "-> ../web.service",
        },
    )
    env = dict(os.environ)
    env.pop("BOOTUP_CONTROL_SOCKET", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "bootup", "up", str(tmp_path), "--no-color"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert up.stdout is not None
        for line in up.stdout:  # the start job finished: the manager supervises
            if "supervising" in line:
                break
        write_units(
            tmp_path,
            {
                "web.service": "[Unit]\nDescription=New\n[Service]\nExecStart=/bin/sleep 600\n",
                "extra.service": "[Service]\nExecStart=/bin/true\n",
            },
        )
        with Client(project_socket(tmp_path), timeout=60) as watcher:
            events = watcher.stream(f"{M}.Subscribe", {"logs": True})
            assert next(events)["event"] == "subscribed"
            up.send_signal(signal.SIGHUP)
            for event in events:
                entry = event.get("log") or {}
                if str(entry.get("message", "")).startswith("Reloading finished"):
                    break
        with Client(project_socket(tmp_path), timeout=60) as client:
            web = client.call(f"{M}.GetProperties", {"name": "web.service"})["properties"]
            extra = client.call(f"{M}.GetProperties", {"name": "extra.service"})["properties"]
        assert web["Description"] == "New"
        assert web["ActiveState"] == "active"  # kept running through the reload
        assert extra["LoadState"] == "loaded"
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=120) == 0
        if up.stdout is not None:
            up.stdout.close()
