"""Simulated hosts: containers running sshd and their own dockerd."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from images.docker_cli import docker, exists, output
from lab import topology as t
from lab.topology import LabHost

# --privileged fails in this sandbox (no CAP_SYS_RESOURCE); these are what nested
# dockerd, VRRP and per-netns sysctls (ip_nonlocal_bind) need instead.
NESTED_DOCKER_FLAGS = (
    "--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
    # /run is a tmpfs on a real server: a power cycle forgets it. Kept on the container's
    # disk instead, containerd's pid file outlived a power-off, and when another process
    # of the next boot got that pid, dockerd waited for it as containerd, failed, and
    # the host restarted into the same wait for good.
    "--tmpfs", "/run:rw,nosuid,nodev,exec,size=256m",
)
# Recorded on the host container: a lab host made with other flags is made again.
FLAGS_ID = hashlib.sha256("\0".join(NESTED_DOCKER_FLAGS).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class HostHealth:
    host: LabHost
    running: bool
    ssh_ok: bool
    tcp_ok: bool


def daemon_answers(url: str, timeout: float = 20) -> bool:
    try:
        return docker(["version", "--format", "{{.Server.Version}}"], host=url, check=False,
                      timeout=timeout).returncode == 0
    except Exception:  # a hung ssh counts as "does not answer"
        return False


def is_running(container: str) -> bool:
    if not exists("container", container):
        return False
    return output(["container", "inspect", "--format", "{{.State.Running}}", container]) == "true"


def ensure_host(host: LabHost, image_id: str, public_key: str) -> bool:
    """Run the host container unless it already runs this image with this key."""
    if exists("container", host.container):
        current = output(["container", "inspect", "--format",
                          '{{.Image}} {{.State.Running}} {{index .Config.Labels "org.kolla-ha.lab-key"}} '
                          '{{index .Config.Labels "org.kolla-ha.lab-flags"}}',
                          host.container])
        if current == f"{image_id} true {_key_id(public_key)} {FLAGS_ID}":
            return False
        docker(["rm", "-f", host.container])
        # A re-created host is a re-provisioned server: a fresh root filesystem beside an
        # old Docker data folder would hold containers whose host-side files (haproxy.cfg,
        # sysctl.d, /etc/hosts) are gone. Its disk starts empty too.
        if exists("volume", host.volume):
            docker(["volume", "rm", host.volume])
        ensure_volume(host)
    docker(["run", "-d", "--init", "--name", host.container, "--hostname", host.name,
            "--label", f"{t.LAB_LABEL}=host", "--label", f"org.kolla-ha.lab-key={_key_id(public_key)}",
            "--label", f"org.kolla-ha.lab-flags={FLAGS_ID}",
            "--restart", "unless-stopped",
            "--network", t.NETWORK, "--ip", host.address,
            *NESTED_DOCKER_FLAGS,
            "-v", f"{host.volume}:/var/lib/docker",
            "-e", f"LAB_AUTHORIZED_KEY={public_key}",
            "-e", f"LAB_REGISTRY={t.REGISTRY_FOR_HOSTS}",
            image_id])
    return True


def incarnation(host: LabHost) -> str | None:
    """The id of the host's current container: it changes when the host is re-created."""
    if not exists("container", host.container):
        return None
    return output(["container", "inspect", "--format", "{{.Id}}", host.container])


def ensure_volume(host: LabHost) -> None:
    if not exists("volume", host.volume):
        docker(["volume", "create", "--label", f"{t.LAB_LABEL}=host", host.volume])


def wait_until_answering(host: LabHost, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon_answers(host.tcp_url, 5) and daemon_answers(host.ssh_url, 10):
            return
        if not is_running(host.container):
            logs = docker(["logs", "--tail", "20", host.container], check=False)
            raise RuntimeError(f"{host.container} stopped:\n{logs.stderr.decode(errors='replace')}")
        time.sleep(1)
    raise RuntimeError(f"{host.name}: dockerd does not answer on {host.tcp_url} and "
                       f"{host.ssh_url} after {timeout:.0f}s; see `docker logs {host.container}`")


def health(host: LabHost) -> HostHealth:
    running = is_running(host.container)
    return HostHealth(host, running,
                      running and daemon_answers(host.ssh_url),
                      running and daemon_answers(host.tcp_url))


def _key_id(public_key: str) -> str:
    # The key body's tail is enough to notice a regenerated key without a label the
    # size of the whole key.
    return public_key.split()[1][-16:]
