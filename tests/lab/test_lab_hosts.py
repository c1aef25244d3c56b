"""The lab's hosts are reachable exactly as production hosts are, and pull every image."""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from images.docker_cli import docker, output
from images.image_set import KOLLA_IMAGES
from lab import Lab, LabHost
from lab.topology import lab_hosts

HOSTS = lab_hosts(3)


@pytest.mark.parametrize("host", HOSTS, ids=lambda h: h.name)
def test_daemon_answers_over_ssh_and_tcp_with_the_hosts_name(lab: Lab, host: LabHost) -> None:
    for url in (host.ssh_url, host.tcp_url):
        # The hostname matters: RabbitMQ node names are built from it.
        assert output(["info", "--format", "{{.Name}}"], host=url) == host.name


@pytest.mark.parametrize("host", HOSTS, ids=lambda h: h.name)
def test_plain_ssh_reaches_the_host_as_root_on_eth0(lab: Lab, host: LabHost) -> None:
    done = subprocess.run(["ssh", "-F", str(lab.ssh_config_path), f"root@{host.address}",
                           "id -un; hostname; ip -4 -o addr show dev eth0"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    user, hostname, addr = done.stdout.splitlines()[:3]
    assert (user, hostname) == ("root", host.name)
    assert f"{host.address}/24" in addr


@pytest.mark.parametrize("host", HOSTS, ids=lambda h: h.name)
def test_host_can_bind_nonlocal_addresses_and_leaves_the_vip_free(lab: Lab, host: LabHost) -> None:
    script = ("sysctl -w net.ipv4.ip_nonlocal_bind=1 >/dev/null && "
              "cat /proc/sys/net/ipv4/ip_nonlocal_bind && "
              f"! ip -4 -o addr | grep -q ' {lab.vip}/'")
    done = subprocess.run(["ssh", "-F", str(lab.ssh_config_path), f"root@{host.address}", script],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr


def _pull_all(host: LabHost, lab: Lab) -> list[str]:
    pulled = []
    for spec in KOLLA_IMAGES:
        ref = lab.image_ref(spec.name)
        docker(["pull", "-q", ref], host=host.ssh_url)
        pulled.append(output(["image", "inspect", "--format", "{{.Id}}", ref], host=host.ssh_url))
    return pulled


def test_every_host_pulls_every_image_from_the_lab_registry(lab: Lab) -> None:
    local_ids = [output(["image", "inspect", "--format", "{{.Id}}", s.local_ref])
                 for s in KOLLA_IMAGES]
    with ThreadPoolExecutor(max_workers=len(HOSTS)) as pool:
        pulled = list(pool.map(lambda h: _pull_all(h, lab), HOSTS))
    for host, ids in zip(HOSTS, pulled):
        assert ids == local_ids, f"{host.name} pulled images that differ from the local build"


def test_a_power_cycle_starts_the_host_with_an_empty_run_and_its_daemon_answers(lab: Lab) -> None:
    """As on a real server, /run (pid files, sockets) does not survive a power cycle: a
    stale containerd pid file once kept a rebooted host's dockerd from ever starting."""
    from lab.hosts import wait_until_answering

    host = HOSTS[-1]
    ssh = ["ssh", "-F", str(lab.ssh_config_path), f"root@{host.address}"]
    marker = "/run/kolla-ha-lab-previous-boot"
    assert subprocess.run([*ssh, f"touch {marker}"], timeout=30).returncode == 0
    docker(["kill", host.container])
    docker(["start", host.container])
    wait_until_answering(host)
    done = subprocess.run([*ssh, f"test ! -e {marker} && ls /run/docker.sock"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert output(["info", "--format", "{{.Name}}"], host=host.tcp_url) == host.name
