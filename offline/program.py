"""Run the real __main__.py under Pulumi's mocks and record every registration.

Shared by the unit tests, the benchmark and the lab's offline executor (lab/executor): one place knows
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
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.settings import SETTINGS, get_root_resource
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
    # The ResourceOptions the program passed, as the resource was constructed (None for
    # registrations no Python resource constructor saw).
    options: pulumi.ResourceOptions | None = None
    # What the SDK sent the engine: every resource this one waits for (depends_on and
    # data dependencies), and per input property the resources its value came from.
    # Property dependencies are what the engine's delete-before-replace cascade follows.
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)

    def depends_on(self) -> list[str]:
        """Names of the resources in depends_on."""
        deps = (self.options.depends_on if self.options else None) or []
        deps = deps if isinstance(deps, list) else [deps]
        return [d._name for d in deps]  # pylint: disable=protected-access


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
        stdout = fake_ring_summary(inputs["stdin"]) if name.endswith("-swift_rings") else ""
        return {**inputs, "stdout": stdout, "stderr": ""}
    return dict(inputs)


def fake_ring_summary(script: Any) -> str:
    """What the Swift ring step prints (components/swift_ring_step.py), shaped from the
    request its script carries: fake ring and builder bytes that change with the
    request, real md5s of them."""
    import base64

    from components.swift_rings import request_of

    request = request_of(script)
    rings = {}
    for ring, devices in request["rings"].items():
        made = {}
        for kind in ("ring", "builder"):
            data = json.dumps([kind, ring, devices, request["part_power"], request["replicas"]]).encode()
            made[f"{kind}_b64"] = base64.b64encode(data).decode()
            made[f"{kind}_md5"] = hashlib.md5(data).hexdigest()
        rings[ring] = {**made, "devices": devices, "deferred": False, "deferred_parts": 0, "retry_after_s": 0}
    return json.dumps({"rings": rings}, sort_keys=True)


def urn_name(urn: str) -> str:
    """The resource name at the end of a URN."""
    return urn.rsplit("::", 1)[-1]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping the dependencies each registration carried (the
    mocks themselves only see type, name, inputs and provider)."""

    def __init__(self, mocks: "RecordingMocks") -> None:
        super().__init__(mocks)
        self.dependencies: dict[tuple[str, str], tuple[list[str], dict[str, list[str]]]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        self.dependencies[(request.type, request.name)] = (
            list(request.dependencies),
            {key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
        )
        return super().RegisterResource(request)


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
    # What the program passed to pulumi.export, by name (Outputs; read with resolve()).
    exports: dict[str, Any]

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
    mocks: RecordingMocks | None = None,
) -> ProgramRun:
    """Evaluate __main__.py with `values` as the stack config; every resource is mocked.

    Pass your own `mocks` to see what was registered when the program raises.
    """
    mocks = mocks if mocks is not None else RecordingMocks()
    monitor = RecordingMonitor(mocks)
    # A fresh root stack per run, as every `pulumi up` has: a root left over from an
    # earlier run in this process makes the SDK's wait for outstanding outputs grow with
    # every run (the second identical run took four times as long as the first).
    runtime_settings.ROOT.set(None)
    pulumi_mocks.set_mocks(mocks, project="kolla-ha", stack="test", preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(stack_config(values), secret_keys=[f"kolla-ha:{k}" for k in secret_keys])
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    namespace: dict[str, Any] = {}
    seen: dict[tuple[str, str], pulumi.ResourceOptions] = {}

    def record(typ: str, name: str, opts: pulumi.ResourceOptions) -> None:
        seen[(typ, name)] = opts
        if on_options is not None:
            on_options(typ, name, opts)

    # register_resource_transform does nothing under mocks: the mock monitor stores the
    # transform but never calls it (only the engine does). The in-process stack
    # transformation runs in every Resource constructor and sees the options as given.
    recorder = _options_recorder(record)

    exports: dict[str, Any] = {}

    def program() -> None:
        pulumi.runtime.register_stack_transformation(recorder)
        namespace.update(runpy.run_path(str(MAIN), run_name="__main__"))

    try:
        _sync_await(run_pulumi_func(program))
    finally:
        exports.update(getattr(get_root_resource(), "outputs", {}) or {})
        # A failed run leaves outputs that never resolve; they must not outlive it.
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        runtime_settings.ROOT.set(None)
    for reg in mocks.registrations:
        reg.options = seen.get((reg.type, reg.name))
        reg.dependencies, reg.property_dependencies = monitor.dependencies.get((reg.type, reg.name), ([], {}))
    return ProgramRun(mocks.registrations, namespace, exports)


def _options_recorder(sink: Callable[[str, str, pulumi.ResourceOptions], None]) -> Any:
    def transformation(args: pulumi.ResourceTransformationArgs) -> None:
        sink(args.type_, args.name, args.opts)
        return None

    return transformation


def is_secret_input(value: Any) -> bool:
    """Whether an input arrived at the mock as a secret.

    Under mocks, a secret input reaches `new_resource` as the wire form
    ``{rpc._special_sig_key: rpc._special_secret_sig, "value": <plain value>}``; a secret
    nested in a list (one upload's content) marks the whole enclosing property secret.
    """
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig  # pylint: disable=protected-access


def unwrap(value: Any) -> Any:
    """An input value with every secret wrapper removed."""
    if is_secret_input(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def resolve(output: Any) -> Any:
    """The value of an Output (or plain value) after a run."""
    return _sync_await(pulumi.Output.from_input(output).future())


def is_secret(output: Any) -> bool:
    return bool(_sync_await(pulumi.Output.from_input(output).is_secret()))
