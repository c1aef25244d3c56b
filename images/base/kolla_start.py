#!/usr/bin/python3
"""Container entrypoint implementing the kolla contract (docs/kolla-contract.md).

Reads /var/lib/kolla/config_files/config.json, copies the config files it lists with
their owner and mode, fixes ownership of the listed paths, then replaces itself with
the service command so the service is PID 1 and receives Docker's signals directly.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

CONFIG_JSON = Path("/var/lib/kolla/config_files/config.json")
# Lives in the container's own filesystem, so a recreated container counts as a
# first start again, which is what COPY_ONCE means.
CONFIGURED_MARKER = Path("/var/lib/kolla/.configured")
# Runtime state of the container's previous life. /run is a tmpfs on a real host, but a
# container keeps its filesystem across a restart; after a power loss (the daemons never
# cleaned up) a pid file names a pid that may be alive again in the new life, and
# keepalived then refuses to start ("daemon is already running") for good.
RUNTIME_DIR = Path("/run")
STRATEGIES = ("COPY_ALWAYS", "COPY_ONCE")


class ContractError(Exception):
    """A config.json that cannot be honoured; the message is shown to the operator."""


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def resolve_owner(spec: str) -> Owner:
    """`user` or `user:group`; a bare user takes the user's primary group."""
    user, _, group = spec.partition(":")
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ContractError(f"owner {spec!r}: no user {user!r} in this image") from None
    if not group:
        return Owner(entry.pw_uid, entry.pw_gid)
    try:
        return Owner(entry.pw_uid, grp.getgrnam(group).gr_gid)
    except KeyError:
        raise ContractError(f"owner {spec!r}: no group {group!r} in this image") from None


def parse_perm(perm: str) -> int:
    try:
        return int(perm, 8)
    except (TypeError, ValueError):
        raise ContractError(f"perm {perm!r} is not an octal string such as '0640'") from None


def load_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ContractError(f"{path} is missing: mount the service's config files there") from None
    except json.JSONDecodeError as err:
        raise ContractError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("command"), str):
        raise ContractError(f"{path} needs a string 'command'")
    return data


def _apply_owner_mode(path: Path, owner: Optional[Owner], mode: Optional[int]) -> None:
    if owner is not None:
        os.chown(path, owner.uid, owner.gid, follow_symlinks=False)
    if mode is not None and not path.is_symlink():
        os.chmod(path, mode)


def copy_config_file(entry: dict[str, Any]) -> None:
    source, dest = Path(entry["source"]), Path(entry["dest"])
    if not source.exists():
        if entry.get("optional", False):
            return
        raise ContractError(f"config file {source} (for {dest}) is missing and not optional")
    owner = resolve_owner(entry["owner"]) if entry.get("owner") else None
    mode = parse_perm(entry["perm"]) if entry.get("perm") else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Remove first: packages often ship the destination as a symlink or with another
    # owner, and writing through a symlink would change a file we were not asked to.
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True)
        for item in [dest, *dest.rglob("*")]:
            # Directories keep their traversal bits; perm is meant for the files.
            _apply_owner_mode(item, owner, None if item.is_dir() else mode)
    else:
        shutil.copy2(source, dest, follow_symlinks=True)
        _apply_owner_mode(dest, owner, mode)


def apply_permission(entry: dict[str, Any]) -> None:
    path = Path(entry["path"])
    owner = resolve_owner(entry["owner"]) if entry.get("owner") else None
    mode = parse_perm(entry["perm"]) if entry.get("perm") else None
    path.mkdir(parents=True, exist_ok=True)
    targets = [path]
    if entry.get("recurse", False) and path.is_dir():
        targets += list(path.rglob("*"))
    for target in targets:
        _apply_owner_mode(target, owner, mode)


def clear_stale_pid_files(runtime_dir: Path) -> list[Path]:
    """Remove every pid file under `runtime_dir`: this is the container's first process,
    so nothing it could name is running. Returns what was removed."""
    removed = []
    for pid_file in sorted(runtime_dir.rglob("*.pid")) if runtime_dir.is_dir() else []:
        if pid_file.is_file() or pid_file.is_symlink():
            pid_file.unlink()
            removed.append(pid_file)
    return removed


def should_copy(strategy: str, marker: Path) -> bool:
    if strategy not in STRATEGIES:
        raise ContractError(
            f"KOLLA_CONFIG_STRATEGY={strategy!r}: use one of {', '.join(STRATEGIES)}")
    return strategy == "COPY_ALWAYS" or not marker.exists()


def prepare(config: dict[str, Any], strategy: str, marker: Path) -> list[str]:
    """Apply config.json and return the argv to exec."""
    if should_copy(strategy, marker):
        for entry in config.get("config_files", []):
            copy_config_file(entry)
        if strategy == "COPY_ONCE":
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    for entry in config.get("permissions", []):
        apply_permission(entry)
    argv = shlex.split(config["command"])
    if not argv:
        raise ContractError("config.json 'command' is empty")
    return argv


def main() -> int:
    config_path = Path(os.environ.get("KOLLA_CONFIG_FILE", str(CONFIG_JSON)))
    strategy = os.environ.get("KOLLA_CONFIG_STRATEGY", "COPY_ALWAYS")
    try:
        for stale in clear_stale_pid_files(RUNTIME_DIR):
            print(f"kolla_start: removed stale {stale}", flush=True)
        argv = prepare(load_config(config_path), strategy, CONFIGURED_MARKER)
    except (ContractError, OSError) as err:
        print(f"kolla_start: {err}", file=sys.stderr)
        return 1
    print(f"kolla_start: exec {shlex.join(argv)}", flush=True)
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        print(f"kolla_start: cannot run {argv[0]!r}: {err}", file=sys.stderr)
        return 1
    return 0  # not reached: execvp replaced this process


if __name__ == "__main__":
    sys.exit(main())
