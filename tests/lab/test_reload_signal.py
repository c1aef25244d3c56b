"""A config reload must not cost a daemon its restart policy.

HAProxy and keepalived load a changed config on a signal. Sent through Docker's API
(`docker kill -s`), Docker counts the signal as a stop by hand and never restarts the
container again: the next crash, or the next power cycle of its host, leaves it down for
good (the lab saw HAProxy stay down and keepalived sit in FAULT). The reload scripts send
it from inside the container instead (components/host_config.py:signal_script). Here a
container on a lab host gets the signal each way, then its main process is killed from
the host, as a crash would: Docker must restart it after ours, and does not after
`docker kill -s` (which shows the crash below tells the two apart).
"""
from __future__ import annotations

import os
import subprocess
import time
import uuid
from typing import Callable

from components.host_config import signal_script
from images.docker_cli import docker
from lab import Lab
from lab.topology import lab_hosts

HOST = lab_hosts(3)[0]
# A daemon that survives the reload signal, as HAProxy's master and keepalived do.
DAEMON = 'trap "" USR2; while true; do sleep 1; done'


def ours(name: str) -> None:
    # The line the reload scripts run on a host, its docker CLI pointed at the lab host.
    done = subprocess.run(["bash", "-c", signal_script(name, "USR2")],
                          env={**os.environ, "DOCKER_HOST": HOST.ssh_url},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def through_dockers_api(name: str) -> None:
    docker(["kill", "-s", "USR2", name], host=HOST.ssh_url)


def restarted_after_a_crash(lab: Lab, send: Callable[[str], None]) -> bool:
    name = f"reload-{uuid.uuid4().hex[:8]}"
    docker(["run", "-d", "--name", name, "--restart", "unless-stopped", "--entrypoint", "bash",
            lab.image_ref("base"), "-c", DAEMON], host=HOST.ssh_url)
    try:
        send(name)
        time.sleep(1)
        state = docker(["inspect", "-f", "{{.State.Running}} {{.State.Pid}}", name], host=HOST.ssh_url)
        running, pid = state.stdout.decode().split()
        assert running == "true", "the reload signal itself stopped the daemon"
        # SIGKILL from the lab host itself (its own PID namespace): a crash, not a stop.
        docker(["exec", HOST.container, "kill", "-9", pid])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = docker(["inspect", "-f", "{{.State.Running}} {{.RestartCount}}", name],
                         host=HOST.ssh_url).stdout.decode().split()
            if out == ["true", "1"]:
                return True
            time.sleep(1)
        return False
    finally:
        docker(["rm", "-f", name], host=HOST.ssh_url, check=False)


def test_a_daemon_reloaded_the_programs_way_is_restarted_after_a_crash(lab: Lab) -> None:
    assert restarted_after_a_crash(lab, ours)


def test_a_daemon_signalled_through_dockers_api_is_not(lab: Lab) -> None:
    assert not restarted_after_a_crash(lab, through_dockers_api)
