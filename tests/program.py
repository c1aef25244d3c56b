"""Run the real __main__.py under Pulumi's mocks and record every registration.

Shared by the unit tests, the benchmark and (later) the lab executor: one place knows
how to drive the program without the Pulumi CLI.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import runpy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"


@dataclass
class Registration:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str | None
    options: dict[str, Any] = field(default_factory=dict)


def _fake_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs shaped like the real providers', so the program's applies run."""
    digest = hashlib.sha256(f"{typ}/{name}/{json.dumps(inputs, sort_keys=True, default=str)}".encode()).hexdigest()
    if typ == "docker:index/remoteImage:RemoteImage":
        return {**inputs, "imageId": f"sha256:{digest}", "repoDigest": f"{inputs['name']}@sha256:{digest}"}
    if typ == "docker:index/container:Container":
        return {**inputs, "exitCode": 0, "containerLogs": ""}
    if typ == "random:index/randomPassword:RandomPassword":
        length = int(inputs.get("length", 32))
        return {**inputs, "result": (digest * 4)[:length]}
    if typ == "random:index/randomBytes:RandomBytes":
        import base64

        return {**inputs, "base64": base64.b64encode(bytes.fromhex(digest)).decode(), "hex": digest}
    if typ == "command:remote:Command":
        return {**inputs, "stdout": "", "stderr": ""}
    return dict(inputs)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registrations: list[Registration] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.registrations.append(Registration(args.typ, args.name, dict(args.inputs), args.provider))
        return f"{args.name}-id", _fake_outputs(args.typ, args.name, dict(args.inputs))

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@dataclass
class ProgramRun:
    registrations: list[Registration]
    namespace: dict[str, Any]

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.registrations if r.name == name]
        assert len(matches) == 1, f"{len(matches)} registrations named {name}"
        return matches[0]

    def containers(self) -> list[Registration]:
        return self.of_type("docker:index/container:Container")


def stack_config(values: Mapping[str, Any]) -> dict[str, str]:
    return {f"kolla-ha:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def run_program(
    values: Mapping[str, Any],
    secret_keys: frozenset[str] | set[str] = frozenset(),
    on_options: Callable[[str, str, pulumi.ResourceOptions], None] | None = None,
) -> ProgramRun:
    """Evaluate __main__.py with `values` as the stack config; every resource is mocked."""
    mocks = RecordingMocks()
    pulumi_mocks.set_mocks(mocks, project="kolla-ha", stack="test", preview=False)
    pulumi.runtime.set_all_config(stack_config(values), secret_keys=[f"kolla-ha:{k}" for k in secret_keys])
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    namespace: dict[str, Any] = {}

    def program() -> None:
        if on_options is not None:
            pulumi.runtime.register_resource_transform(_options_recorder(on_options))
        namespace.update(runpy.run_path(str(MAIN), run_name="__main__"))

    _sync_await(run_pulumi_func(program))
    return ProgramRun(mocks.registrations, namespace)


def _options_recorder(sink: Callable[[str, str, pulumi.ResourceOptions], None]) -> Any:
    def transform(args: pulumi.ResourceTransformArgs) -> None:
        sink(args.type_, args.name, args.opts)
        return None

    return transform


def resolve(output: Any) -> Any:
    """The value of an Output (or plain value) after a run."""
    return _sync_await(pulumi.Output.from_input(output).future())


def is_secret(output: Any) -> bool:
    return bool(_sync_await(pulumi.Output.from_input(output).is_secret()))
