"""The lab registry container and getting the built images into it."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Callable, Iterable, Optional

from images.docker_cli import docker, exists, output
from images.image_set import ImageSpec
from lab import topology as t

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def registry_answers(base_url: str = f"http://{t.REGISTRY_FOR_PUSH}") -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/v2/", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_registry(image_id: str) -> bool:
    """Run the registry container (recreated only if its image changed); True if (re)made."""
    if exists("container", t.REGISTRY_CONTAINER):
        current = output(["container", "inspect", "--format", "{{.Image}} {{.State.Running}}",
                          t.REGISTRY_CONTAINER])
        if current == f"{image_id} true":
            return False
        docker(["rm", "-f", t.REGISTRY_CONTAINER])
    docker(["run", "-d", "--name", t.REGISTRY_CONTAINER, "--label", f"{t.LAB_LABEL}=registry",
            "--restart", "unless-stopped",
            "--network", t.NETWORK, "--ip", t.REGISTRY_IP, "--hostname", "registry",
            "-p", f"{t.REGISTRY_FOR_PUSH}:{t.REGISTRY_PORT}",
            "-v", f"{t.REGISTRY_VOLUME}:/var/lib/docker-registry", image_id])
    deadline = time.monotonic() + 30
    while not registry_answers():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{t.REGISTRY_CONTAINER} does not answer on {t.REGISTRY_FOR_PUSH}; "
                               f"see `docker logs {t.REGISTRY_CONTAINER}`")
        time.sleep(0.3)
    return True


def pushed_image_id(spec: ImageSpec) -> Optional[str]:
    """The image id (manifest config digest) the registry holds for `spec`, if any."""
    repository = spec.ref_in(t.REGISTRY_FOR_PUSH).split("/", 1)[1].rsplit(":", 1)[0]
    request = urllib.request.Request(
        f"http://{t.REGISTRY_FOR_PUSH}/v2/{repository}/manifests/{spec.local_ref.rsplit(':', 1)[1]}",
        headers={"Accept": MANIFEST_V2})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.load(response)["config"]["digest"])
    except (urllib.error.URLError, OSError, KeyError, ValueError):
        return None


def push_images(specs: Iterable[ImageSpec], log: Callable[[str], None] = print) -> list[str]:
    """Push every image the registry lacks or holds in another version; names pushed."""
    pushed = []
    for spec in specs:
        local_id = output(["image", "inspect", "--format", "{{.Id}}", spec.local_ref])
        if pushed_image_id(spec) == local_id:
            continue
        started = time.monotonic()
        target = spec.ref_in(t.REGISTRY_FOR_PUSH)
        docker(["tag", spec.local_ref, target])
        docker(["push", target])
        log(f"pushed {target} in {time.monotonic() - started:.1f}s")
        pushed.append(spec.name)
    return pushed
