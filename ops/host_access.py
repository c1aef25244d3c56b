"""Reaching a stack's hosts the way the program does, plus the out-of-band paths that
faults need (a power switch, a console that works while the network is cut).

- In band: SSH as the inventory says (user, port, key), running bash scripts with the
  Docker CLI on the host — what pulumi-command's remote Commands do.
- Out of band, production: operator-supplied commands (IPMI, a PDU, a cloud API) with
  `{name}` and `{address}` placeholders for power.
- Out of band, the lab: the outer Docker engine, where a simulated host is the
  container `kolla-ha-lab-<name>` (`docker kill` is a power loss, `docker exec` a
  serial console).
"""
from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from components.host import ssh_opts
from components.inventory import Host

LAB_CONTAINER_PREFIX = "kolla-ha-lab-"


class HostUnreachable(RuntimeError):
    pass


@dataclass(frozen=True)
class ScriptResult:
    returncode: int
    stdout: str
    stderr: str


def run_over_ssh(host: Host, script: str, timeout: float = 60, stdin: str = "") -> ScriptResult:
    """`script` run by bash on `host` over SSH; never raises for a non-zero exit."""
    argv = ["ssh", *ssh_opts(host), "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=2", f"{host.ssh.user}@{host.address}",
            "bash -c " + shlex.quote(script)]
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise HostUnreachable(f"{host.name}: no answer over ssh within {timeout:.0f}s") from err
    if done.returncode == 255:
        raise HostUnreachable(f"{host.name}: ssh failed: {done.stderr.strip()[-300:]}")
    return ScriptResult(done.returncode, done.stdout, done.stderr)


def run_on_lab_console(host: Host, script: str, timeout: float = 60) -> ScriptResult:
    """`script` run by this machine's bash in the simulated host's network namespace:
    like a serial console, it works while the host's network is cut, and it brings its
    own tools (nft, ip) as an operator's console would."""
    pid = lab_host_pid(host, timeout)
    if pid is None:
        return ScriptResult(1, "", f"{host.name}: the simulated host is not running")
    argv = ["nsenter", "--target", str(pid), "--net", "bash", "-c", script]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return ScriptResult(done.returncode, done.stdout, done.stderr)


def lab_host_pid(host: Host, timeout: float = 60) -> int | None:
    """The simulated host's init process (its network namespace), None while it is off."""
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", f"{LAB_CONTAINER_PREFIX}{host.name}"],
                         capture_output=True, text=True, timeout=timeout, check=False).stdout.strip()
    return int(pid) if pid.isdigit() and pid != "0" else None


class LabAddresses:
    """Whether a simulated host holds an IPv4 address, read from its network namespace's
    routing table (/proc/PID/net/fib_trie: a local address is a `/32 host LOCAL` leaf)
    without starting a process. The VIP monitor asks every host five times a second;
    a docker inspect + nsenter + ip for each look took about a quarter of one of the
    lab machine's two cores (measured 2026-12-07), CPU that a rebooting host then lacked."""

    def __init__(self) -> None:
        self._pids: dict[str, int] = {}

    def holds(self, host: Host, address: str) -> bool:
        pid = self._pids.get(host.name)
        fib = _fib_trie(pid)
        if fib is None:
            # Not asked yet, or powered off (perhaps on again, under a new pid).
            pid = lab_host_pid(host, timeout=5)
            fib = _fib_trie(pid)
        if pid is None or fib is None:
            self._pids.pop(host.name, None)
            return False
        self._pids[host.name] = pid
        return fib_has_local(fib, address)


def _fib_trie(pid: int | None) -> list[str] | None:
    if pid is None:
        return None
    try:
        return Path(f"/proc/{pid}/net/fib_trie").read_text().splitlines()
    except OSError:
        return None


def fib_has_local(fib_trie: list[str], address: str) -> bool:
    """Whether /proc/net/fib_trie's lines list `address` as one of this host's own."""
    return any(line.strip() == f"|-- {address}" and nxt.strip() == "/32 host LOCAL"
               for line, nxt in zip(fib_trie, fib_trie[1:]))


@dataclass(frozen=True)
class PowerSwitch:
    """How hosts lose and regain power: the lab's outer engine, or operator commands."""

    lab: bool
    off_command: str | None = None
    on_command: str | None = None

    def _command(self, template: str | None, host: Host, what: str) -> Sequence[str]:
        if self.lab:
            verb = "kill" if what == "off" else "start"
            return ["docker", verb, f"{LAB_CONTAINER_PREFIX}{host.name}"]
        if not template:
            raise ValueError(f"power {what}: pass --power-{what}-cmd (e.g. an ipmitool line with "
                             "{name} and {address}), or --lab for the local lab")
        # Host names and addresses are validated by the inventory; quoting keeps them
        # single words whatever the template does around them.
        return ["bash", "-c", template.format(name=shlex.quote(host.name), address=shlex.quote(host.address))]

    def off(self, host: Host) -> ScriptResult:
        return _run(self._command(self.off_command, host, "off"))

    def on(self, host: Host) -> ScriptResult:
        return _run(self._command(self.on_command, host, "on"))


def _run(argv: Sequence[str]) -> ScriptResult:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)
    return ScriptResult(done.returncode, done.stdout, done.stderr)
