"""Build every kolla-ha image, rebuilding only what changed.

    python3 -m images.build [--base-image REF] [--jobs N] [NAME ...]

An image is reused when its label `org.kolla-ha.build-hash` equals the hash of its
folder's files, its parent's image id and its build arguments; so editing a folder
rebuilds that image, and rebuilding the base rebuilds every child.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from images.docker_cli import DockerError, docker, exists, output
from images.image_set import KOLLA_IMAGES, OFFLINE_BASE_IMAGE, ImageSpec
from images.rootfs import ensure_offline_base
from images.file_lock import exclusive

HASH_LABEL = "org.kolla-ha.build-hash"
IGNORED_PARTS = {"__pycache__", ".pytest_cache"}


@dataclass(frozen=True)
class BuildResult:
    spec: ImageSpec
    image_id: str
    built: bool
    seconds: float


def folder_digest(folder: Path) -> str:
    """Hash of relative paths, modes and contents, independent of timestamps."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if IGNORED_PARTS & set(path.relative_to(folder).parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_hash(spec: ImageSpec, parent_id: str, build_args: dict[str, str]) -> str:
    digest = hashlib.sha256()
    digest.update(folder_digest(spec.context).encode())
    digest.update(parent_id.encode())
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}".encode())
    return digest.hexdigest()


def image_id(ref: str) -> Optional[str]:
    if not exists("image", ref):
        return None
    return output(["image", "inspect", "--format", "{{.Id}}", ref])


def current_hash(ref: str) -> Optional[str]:
    if not exists("image", ref):
        return None
    label = output(["image", "inspect", "--format",
                    f'{{{{index .Config.Labels "{HASH_LABEL}"}}}}', ref])
    return label or None


def build_one(spec: ImageSpec, parent_id: str, build_args: dict[str, str],
              log_dir: Path) -> BuildResult:
    started = time.monotonic()
    wanted = build_hash(spec, parent_id, build_args)
    if current_hash(spec.local_ref) != wanted:
        args = ["build", "--pull=false", "-t", spec.local_ref, "--label", f"{HASH_LABEL}={wanted}"]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        result = docker([*args, str(spec.context)], check=False)
        log = log_dir / f"{spec.name}.log"
        log.write_bytes(result.stdout + result.stderr)
        if result.returncode != 0:
            raise DockerError(f"building {spec.local_ref} failed; full log in {log}:\n"
                              + result.stderr.decode(errors="replace")[-2000:])
        built = True
    else:
        built = False
    found = image_id(spec.local_ref)
    assert found is not None
    return BuildResult(spec, found, built, time.monotonic() - started)


Log = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


def report(result: BuildResult, index: int, total: int, log: Log = _print) -> None:
    state = "built " if result.built else "reused"
    log(f"[{index:2d}/{total}] {result.spec.local_ref:34s} {state} {result.seconds:7.1f}s")


def build_images(specs: Sequence[ImageSpec] = KOLLA_IMAGES, base_image: str = OFFLINE_BASE_IMAGE,
                 jobs: int = 2, log_dir: Optional[Path] = None, log: Log = _print) -> dict[str, BuildResult]:
    """Build `specs` (parents before children, siblings `jobs` at a time)."""
    lock_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    with exclusive(lock_dir / "kolla-ha-images.lock"):
        return _build_images(specs, base_image, jobs, log_dir, log)


def _build_images(specs: Sequence[ImageSpec], base_image: str, jobs: int,
                  log_dir: Optional[Path], log: Log) -> dict[str, BuildResult]:
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp")) / "kolla-ha-build-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if base_image == OFFLINE_BASE_IMAGE:
        started = time.monotonic()
        if ensure_offline_base(base_image):
            log(f"[ 0/{len(specs)}] {base_image:34s} built  {time.monotonic() - started:7.1f}s (debootstrap)")
    root_id = image_id(base_image)
    if root_id is None:  # a pullable base such as debian:bookworm-slim
        docker(["pull", base_image], capture=False)
        root_id = image_id(base_image) or ""
    results: dict[str, BuildResult] = {}
    pending = list(specs)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        while pending:
            ready = [s for s in pending if s.parent is None or s.parent in results]
            if not ready:
                missing = {s.parent for s in pending}
                raise ValueError(f"parents {sorted(map(str, missing))} are not in the build set")
            futures: list[tuple[ImageSpec, Future[BuildResult]]] = []
            for spec in ready:
                pending.remove(spec)
                if spec.parent is None:
                    parent_id, args = root_id, {"BASE_IMAGE": base_image}
                else:
                    parent_id, args = results[spec.parent].image_id, {}
                futures.append((spec, pool.submit(build_one, spec, parent_id, args, log_dir)))
            for spec, future in futures:
                results[spec.name] = future.result()
                report(results[spec.name], len(results), len(specs), log)
    return results


def select(names: Iterable[str], specs: Sequence[ImageSpec]) -> list[ImageSpec]:
    """The named images plus their ancestors, in build order."""
    by_name = {s.name: s for s in specs}
    wanted: set[str] = set()
    for name in names:
        if name not in by_name:
            raise SystemExit(f"unknown image {name!r}; known: {', '.join(by_name)}")
        while name is not None:
            wanted.add(name)
            name = by_name[name].parent  # type: ignore[assignment]
    return [s for s in specs if s.name in wanted]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m images.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="images to build (default: all)")
    parser.add_argument("--base-image", default=os.environ.get("KOLLA_HA_BASE_IMAGE",
                                                               OFFLINE_BASE_IMAGE),
                        help=f"BASE_IMAGE for images/base (default {OFFLINE_BASE_IMAGE}, "
                             "made with debootstrap when missing; or debian:bookworm-slim)")
    parser.add_argument("--jobs", type=int, default=2, help="sibling images built at once")
    options = parser.parse_args(argv)
    specs = select(options.names, KOLLA_IMAGES) if options.names else list(KOLLA_IMAGES)
    started = time.monotonic()
    try:
        build_images(specs, options.base_image, options.jobs)
    except DockerError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"{len(specs)} images ready in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
