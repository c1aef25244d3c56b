"""Getting a fresh machine ready for the two README commands, with the standard library only.

`python3 -m lab deploy` and `python3 -m tests` start on a machine that has Python, pip,
root and Debian's archive, nothing else. Before anything can import pulumi or the Docker
SDK they need (1) the Debian packages of the real daemons and tools, and (2) a virtual
environment holding exactly the project's requirements files. This module does both and
then re-executes the command inside that environment, so every later import comes from
the project's own files and never from whatever the machine happens to have installed.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from lab.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
_STAMP = VENV / "kolla-ha-requirements.sha256"
# Set in the re-executed process so that it does not bootstrap again.
_INSIDE = "KOLLA_HA_BOOTSTRAPPED"

# What deploying into the lab needs on this machine: a Docker engine for the simulated
# hosts, debootstrap for the offline base image, ssh for ssh:// providers and commands,
# the stock OpenStack client people use against the deployed cloud, and nft/nsenter for
# the fault injector's lab console.
DEPLOY_PACKAGES = ("docker.io", "debootstrap", "openssh-client", "iproute2", "iptables", "procps",
                   "python3-openstackclient",
                   # ops.faults cuts a lab host off the network from this machine's console
                   "nftables", "util-linux")
# The tests additionally check rendered configs with the real daemons.
DAEMON_PACKAGES = ("haproxy", "keepalived", "mariadb-server", "mariadb-client", "galera-4", "mariadb-backup",
                   "socat", "rabbitmq-server", "memcached", "curl",
                   # Swift's storage daemons, its proxy (tempauth drives them in the test),
                   # rsync for replication, and python3-swift for the ring step.
                   "swift-account", "swift-container", "swift-object", "swift-object-expirer", "swift-proxy",
                   "rsync", "python3-swift",
                   # glance_store reads glance's rendered Swift store configuration.
                   "python3-glance-store",
                   # Ceph's monitors, managers and OSDs on the rendered files and start
                   # scripts; librados/librbd for cinder's client key.
                   "ceph-mon", "ceph-mgr", "ceph-osd", "ceph-common", "python3-rados", "python3-rbd")
# Installed daemons start their own services (no systemd here, but the init scripts run
# from the packages' postinst); they must not hold the ports the tests use.
_PACKAGE_SERVICES = ("mariadb", "rabbitmq-server", "memcached", "haproxy", "keepalived")


class SetupError(RuntimeError):
    pass


def progress(started: float, message: str) -> None:
    """One whole line, with the seconds since the command started."""
    Progress(start=started).line(message)


def missing_packages(packages: Sequence[str]) -> list[str]:
    missing = []
    for package in packages:
        status = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status}", package],
                                capture_output=True, text=True, check=False)
        if status.stdout.strip() != "installed":
            missing.append(package)
    return missing


def _venv_packages() -> list[str]:
    # Debian's own Python splits venv/ensurepip into a package; other Pythons ship it.
    try:
        import ensurepip  # noqa: F401  (only its presence matters)
    except ImportError:
        return [f"python3.{sys.version_info.minor}-venv"]
    return []


def ensure_debian_packages(packages: Sequence[str], started: float) -> None:
    """Install what is missing when root; otherwise say the one line to run, and stop."""
    if shutil.which("dpkg-query") is None:
        raise SetupError("this machine has no dpkg: install the equivalent of these Debian packages "
                         f"yourself: {' '.join(packages)}")
    missing = missing_packages([*packages, *_venv_packages()])
    if not missing:
        return
    line = f"apt-get update && apt-get install -y --no-install-recommends {' '.join(missing)}"
    if os.geteuid() != 0:
        raise SetupError(f"missing Debian packages; as root run:\n  {line}")
    progress(started, f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SetupError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    for service in _PACKAGE_SERVICES:
        subprocess.run(["service", service, "stop"], capture_output=True, check=False)
    subprocess.run(["pkill", "-x", "epmd"], capture_output=True, check=False)


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for name in REQUIREMENTS:
        digest.update((ROOT / name).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_venv(started: float) -> Path:
    """`.venv` with exactly the requirements files installed; reused while they are unchanged."""
    python = VENV / "bin" / "python"
    wanted = _requirements_digest()
    if python.exists() and _STAMP.exists() and _STAMP.read_text().strip() == wanted:
        return python
    progress(started, f"installing the Python packages into {VENV.relative_to(ROOT)}/ "
                      f"({', '.join(REQUIREMENTS)})")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "-r", str(ROOT / "requirements-dev.txt")],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SetupError(f"pip install into {VENV} failed:\n{done.stdout[-1500:]}{done.stderr[-2500:]}")
    _STAMP.write_text(wanted + "\n")
    return python


def inside_venv() -> bool:
    return os.environ.get(_INSIDE) == "1" and Path(sys.prefix).resolve() == VENV.resolve()


def run_in_venv(module: str, args: Sequence[str], packages: Sequence[str]) -> int:
    """Prepare the machine, then run `python -m module args` inside the project's venv."""
    started = time.monotonic()
    try:
        ensure_debian_packages(packages, started)
        python = ensure_venv(started)
    except SetupError as err:
        print(f"kolla-ha: {err}", file=sys.stderr)
        return 2
    env = {**os.environ, _INSIDE: "1", "KOLLA_HA_STARTED_AT": f"{time.time() - (time.monotonic() - started):.3f}"}
    # Nothing from a user site or PYTHONPATH may stand in for a missing requirement.
    env.pop("PYTHONPATH", None)
    env["PYTHONNOUSERSITE"] = "1"
    os.chdir(ROOT)
    os.execve(str(python), [str(python), "-m", module, *args], env)
    return 0  # not reached


def started_at() -> float:
    """The monotonic-equivalent start of the whole command, across the re-exec."""
    wall = float(os.environ.get("KOLLA_HA_STARTED_AT", time.time()))
    return time.monotonic() - (time.time() - wall)
