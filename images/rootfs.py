"""The offline base: a debootstrapped Debian bookworm imported as a Docker image.

Used where no container registry can be pulled from; only Debian's archive is needed.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from images.docker_cli import exists


def ensure_offline_base(ref: str) -> bool:
    """Create `ref` from debootstrap unless it exists; True when it was created."""
    if exists("image", ref):
        return False
    if shutil.which("debootstrap") is None:
        raise RuntimeError(f"{ref} is missing and debootstrap is not installed: "
                           "apt-get install -y debootstrap, or pass --base-image debian:bookworm-slim")
    workdir = Path(tempfile.mkdtemp(prefix="kolla-ha-rootfs-", dir="/var/tmp"))
    try:
        rootfs = workdir / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs),
                        "http://deb.debian.org/debian"],
                       check=True, stdout=subprocess.DEVNULL)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", ref], stdin=tar.stdout,
                                  stdout=subprocess.DEVNULL)
        if tar.wait() != 0 or imported.returncode != 0:
            raise RuntimeError(f"importing the debootstrapped rootfs as {ref} failed")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return True
