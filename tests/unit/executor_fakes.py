"""Docker daemons and SSH hosts in memory, for driving the executor without a lab.

`FakeWorld` implements the executor's `Actions` the way Docker and sshd answer: a
container name is unique per daemon (a second create with the same name is a
conflict), every container gets a new id, one-shots (`attach`) exit with the code
the test sets, and every call that changes something is appended to `events`.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.executor.actions import Actions, CommandResult, InitError
from lab.executor.run import run_program, run_stack
from offline.program import fake_ring_summary
from tests.unit.inventory_fixtures import make_config


RING_REQUEST = "REQUEST: dict | None = json.loads("


@dataclass
class FakeContainer:
    id: str
    name: str
    running: bool
    exit_code: int
    inputs: dict[str, Any]
    restart: str = "no"


@dataclass
class FakeDaemon:
    url: str
    containers: dict[str, FakeContainer] = field(default_factory=dict)  # by id
    images: dict[str, str] = field(default_factory=dict)  # name -> image id
    volumes: set[str] = field(default_factory=set)


@dataclass
class FakeClient:
    url: str


class FakeWorld(Actions):
    def __init__(self) -> None:
        super().__init__(pool=None)
        self.daemons: dict[str, FakeDaemon] = {}
        self.events: list[tuple[str, str, str]] = []
        self.connections: list[str] = []
        # Test knobs: a one-shot's exit code by container name; failures by container
        # name ("init": after the container exists, "create": before); failing scripts
        # by the first `act`/keyword line they contain.
        self.exit_codes: dict[str, int] = {}
        self.fail_containers: dict[str, str] = {}
        self.fail_scripts: set[str] = set()
        # Containers created but found stopped by the Read after create.
        self.stopped: set[str] = set()
        # A container's create waits for this event (to order steps across chains).
        self.hold: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    # -- helpers -----------------------------------------------------------------------
    def event(self, op: str, where: str, what: str) -> None:
        with self._lock:
            self.events.append((op, where, what))

    def daemon(self, client: FakeClient) -> FakeDaemon:
        return self.daemons.setdefault(client.url, FakeDaemon(client.url))

    def running_names(self, url: str) -> list[str]:
        return sorted(c.name for c in self.daemons[url].containers.values() if c.running)

    def ops(self, op: str) -> list[tuple[str, str]]:
        return [(where, what) for o, where, what in self.events if o == op]

    # -- providers ---------------------------------------------------------------------
    def connect(self, provider_id: str, inputs: dict[str, Any]) -> None:
        self.connections.append(inputs["host"])
        self.providers[provider_id] = FakeClient(inputs["host"])  # type: ignore[assignment]

    def close(self) -> None:
        pass

    # -- images and volumes --------------------------------------------------------------
    def find_or_pull_image(self, client: Any, name: str) -> dict[str, Any]:
        daemon = self.daemon(client)
        if name not in daemon.images:
            daemon.images[name] = f"sha256:{name}"
            self.event("pull", client.url, name)
        return {"imageId": daemon.images[name], "repoDigest": ""}

    def inspect_image(self, client: Any, name: str) -> dict[str, Any] | None:
        image = self.daemon(client).images.get(name)
        return None if image is None else {"imageId": image, "repoDigest": ""}

    def remove_image(self, client: Any, name: str, force: bool) -> None:
        self.daemon(client).images.pop(name, None)
        self.event("rmi", client.url, name)

    def create_volume(self, client: Any, name: str, driver: str | None, labels: dict[str, str]) -> dict[str, Any]:
        self.daemon(client).volumes.add(name)
        self.event("volume", client.url, name)
        return {"driver": driver or "local", "mountpoint": f"/var/lib/docker/volumes/{name}/_data"}

    def inspect_volume(self, client: Any, name: str) -> dict[str, Any] | None:
        if name not in self.daemon(client).volumes:
            return None
        return {"driver": "local", "mountpoint": f"/var/lib/docker/volumes/{name}/_data"}

    def remove_volume(self, client: Any, name: str) -> None:
        self.daemon(client).volumes.discard(name)
        self.event("rm-volume", client.url, name)

    # -- containers --------------------------------------------------------------------
    def create_container(self, client: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        daemon = self.daemon(client)
        name = inputs["name"]
        if name in self.hold:
            assert self.hold[name].wait(timeout=60), f"{name} was held for 60 s"
        with self._lock:
            if any(c.name == name for c in daemon.containers.values()):
                raise RuntimeError(f'Conflict. The container name "/{name}" is already in use')
            if self.fail_containers.get(name) == "create":
                raise RuntimeError(f"no such image for {name}")
            # Like Docker: every container gets a new id, also in another FakeWorld.
            container = FakeContainer(f"{name}-{uuid.uuid4().hex[:12]}", name,
                                      not inputs.get("attach") and name not in self.stopped,
                                      self.exit_codes.get(name, 0) if inputs.get("attach") else 0, inputs,
                                      inputs.get("restart") or "no")
            daemon.containers[container.id] = container
        self.event("run", client.url, name)
        if self.fail_containers.get(name) == "init":
            container.running = False
            container.exit_code = 1
            raise InitError("container failed to be in healthy state", container.id,
                            {"running": False, "exitCode": 1})
        observed = {"running": container.running, "exitCode": container.exit_code}
        return {"id": container.id, **observed, "containerLogs": ""}

    def update_container_resources(self, client: Any, container_id: str, restart: str, max_retry_count: int,
                                   cpu_shares: int) -> None:
        container = self.daemon(client).containers[container_id]
        container.restart = restart
        if cpu_shares:
            container.inputs["cpuShares"] = cpu_shares
        self.event("update", client.url, container.name)

    def start_container(self, client: Any, container_id: str) -> None:
        self.daemon(client).containers[container_id].running = True
        self.event("start", client.url, self.daemon(client).containers[container_id].name)

    def inspect_container(self, client: Any, container_id: str) -> dict[str, Any] | None:
        container = self.daemon(client).containers.get(container_id)
        if container is None:
            return None
        return {"running": container.running, "exitCode": container.exit_code}

    def delete_container(self, client: Any, container_id: str, attach: bool, grace_seconds: int | None,
                         remove_volumes: bool) -> None:
        container = self.daemon(client).containers.pop(container_id, None)
        self.event("rm", client.url, container.name if container else f"<gone {container_id}>")

    # -- commands ----------------------------------------------------------------------
    def run_remote(self, connection: dict[str, Any], script: str, stdin: str | None) -> CommandResult:
        action = _script_action(script)
        self.event("ssh", connection["host"], action)
        if action in self.fail_scripts:
            raise RuntimeError(f"Process exited with status 1: running {action}")
        # The Swift ring step prints its rings; everything else here prints nothing.
        if stdin and RING_REQUEST in stdin:
            return CommandResult(stdout=fake_ring_summary(stdin), stderr="")
        return CommandResult(stdout="", stderr="")

    def run_local(self, script: str, environment: dict[str, str], stdin: str | None) -> CommandResult:
        action = _script_action(script)
        self.event("sh", "local", action)
        if action in self.fail_scripts:
            raise RuntimeError(f"exit status 1: running {action}")
        return CommandResult(stdout=environment.get("PULUMI_COMMAND_STDOUT", ""), stderr="")

    @staticmethod
    def random_password(inputs: dict[str, Any]) -> str:
        return "p" * int(inputs["length"])

    @staticmethod
    def random_bytes(inputs: dict[str, Any]) -> bytes:
        return b"k" * int(inputs["length"])


def _script_action(script: str) -> str:
    """A short name for a script: its `act ...` line (lb-member), else its first line."""
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("act "):
            return line
    for line in lines:
        if line.startswith("docker ") or line.startswith("sysctl ") or line.startswith("cat >"):
            return line
    return lines[0] if lines else ""


def deploy(tmp_path: Path, world: FakeWorld, n_hosts: int = 3, preview: bool = False,
           replace: list[str] | None = None, log: Any = None, **overrides: Any):
    """Run the real program through the executor against `world`."""
    raw, secret_keys = make_config(n_hosts, **overrides)
    given = {k: raw.pop(k) for k in list(raw) if k in secret_keys}
    return run_stack("test", preview=preview, values=raw, state_path=tmp_path / "state.json",
                     log=log if log is not None else (lambda _line: None), actions=world,
                     secrets_given=given, replace=replace)


def run(tmp_path: Path, world: FakeWorld, program: Any, preview: bool = False, replace: list[str] | None = None,
        log: Any = None):
    """Run a Pulumi program given as a function through the executor against `world`."""
    return run_program(program, "test", preview=preview, state_path=tmp_path / "state.json",
                       log=log if log is not None else (lambda _line: None), actions=world, replace=replace)


def urn(typ: str, name: str, parent_type: str = "") -> str:
    """The URN the engine gives a resource of the test stack (no parent, or a parent's type)."""
    prefix = f"{parent_type}$" if parent_type else ""
    return f"urn:pulumi:test::kolla-ha::{prefix}{typ}::{name}"
