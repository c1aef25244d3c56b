"""A daemon's config kept on the host and reloaded in place, never by a new container.

HAProxy and keepalived hold the VIP: replacing either container on its holder drops the
VIP for seconds. Their config file therefore lives in a host directory mounted read-only
into the container (kolla_start copies it into place at start), and a changed config is
written beside it, checked by the running daemon's own binary, put in place and loaded
with the daemon's reload signal. The container's inputs never contain the config, so a
config change is an update of one command per host, never a replacement.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class ReloadableConfig:
    """One config file of one container, delivered from the host."""

    container: str
    file: str
    # in the container, where the daemon reads it (kolla_start copies it there)
    dest: str
    # `{path}` is replaced by the new file's path in the container; must exit non-zero on a bad config
    check: str
    signal: str
    # a shell condition, run on the host, true once the daemon serves again after the reload
    alive: str

    @property
    def host_dir(self) -> str:
        return f"/etc/kolla-ha/{self.container}"

    @property
    def mounted_dir(self) -> str:
        return f"/var/lib/kolla/{self.container}-config"

    @property
    def source(self) -> str:
        return f"{self.mounted_dir}/{self.file}"


def write_script(cfg: ReloadableConfig) -> str:
    """First write of the file (from stdin), before the container exists."""
    new = f"{cfg.host_dir}/{cfg.file}.new"
    return "\n".join([
        "set -eu",
        f"install -d -m 0700 {cfg.host_dir}",
        "umask 077",
        f"cat > {new}",
        f"mv {new} {cfg.host_dir}/{cfg.file}",
    ]) + "\n"


def signal_script(container: str, signal: str) -> str:
    """Send `signal` to the container's daemon (its PID 1) from inside the container.

    Not `docker kill -s`: Docker takes any signal sent through its API as a stop by hand,
    and never restarts that container after a later crash or a reboot of its host. (Found
    in the lab: after a config reload, HAProxy killed, or its host power-cycled, stayed
    down for good, and keepalived with it in FAULT; tests/lab/test_reload_signal.py.)"""
    return f"docker exec {container} sh -c 'kill -{signal} 1'"


def reload_script(cfg: ReloadableConfig) -> str:
    """A changed file (from stdin): checked by the running daemon, then loaded.

    With no container yet (a host being rebuilt), the file is only written: the
    container starts on it. `set -eu` stops at a failed check, leaving the old file in
    place and the daemon untouched.
    """
    new = f"{cfg.host_dir}/{cfg.file}.new"
    return "\n".join([
        "set -eu",
        "umask 077",
        f"install -d -m 0700 {cfg.host_dir}",
        f"cat > {new}",
        f"if ! docker inspect {cfg.container} >/dev/null 2>&1; then",
        f"  mv {new} {cfg.host_dir}/{cfg.file}",
        "  exit 0",
        "fi",
        f"docker exec {cfg.container} {cfg.check.format(path=f'{cfg.mounted_dir}/{cfg.file}.new')}",
        f"mv {new} {cfg.host_dir}/{cfg.file}",
        f"docker exec {cfg.container} cp {cfg.source} {cfg.dest}",
        signal_script(cfg.container, cfg.signal),
        "for i in $(seq 1 30); do",
        f"  if {cfg.alive}; then exit 0; fi",
        "  sleep 1",
        "done",
        f"echo '{cfg.container} did not serve again after the reload' >&2",
        "exit 1",
    ]) + "\n"


# Ends each file's here-document in install_files_script; no file may contain it.
END_OF_FILE = "KOLLA_HA_END_OF_FILE"


def install_files_script(cfg: ReloadableConfig, files: Mapping[str, str]) -> str:
    """Executables beside the config that the config names (keepalived's track scripts).

    They are written to the host folder before the config is checked, so the running
    container sees them through its mount: a config naming a new script passes the
    running daemon's check, and a changed script never replaces the container. Their
    text is the program's own (here-documents, quoted: nothing in it is expanded)."""
    lines = ["set -eu", "umask 077", f"install -d -m 0700 {cfg.host_dir}"]
    for name, text in files.items():
        if END_OF_FILE in text:
            raise ValueError(f"{name}: contains {END_OF_FILE}, which ends its here-document")
        new = f"{cfg.host_dir}/{name}.new"
        lines += [f"cat > {new} <<'{END_OF_FILE}'", text.rstrip("\n"), END_OF_FILE,
                  f"chmod 0700 {new}", f"mv {new} {cfg.host_dir}/{name}"]
    return "\n".join(lines) + "\n"


def delete_script(cfg: ReloadableConfig) -> str:
    return f"rm -rf {cfg.host_dir}\n"
