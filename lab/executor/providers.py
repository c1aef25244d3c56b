"""The providers' Create, Update, Delete and Read, per resource type.

Each takes and returns engine states (inputs and outputs in their wire form, secrets
wrapped) and calls `Actions` for what touches the world. What each returns is what
PULUMI-ENGINE.md says the provider returns: e.g. a container's Update stores the
planned values without a Read (§1), a command's Update runs the new `update` or else
the new `create` while Delete runs the old `delete` (§2), a preview Create returns the
inputs with the computed outputs left unknown and an empty ID (§3e).
"""
from __future__ import annotations

import base64
import secrets as pysecrets
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

from lab.executor import schemas
from lab.executor.actions import Actions, InitError
from lab.executor.diff import DiffResult, UnsupportedByExecutor
from lab.executor.state import ResourceState
from lab.executor.values import mark_secret_keys, plain


@dataclass
class Applied:
    """A provider's answer: the ID, the outputs, and init errors on a partial failure."""

    id: str
    outputs: dict[str, Any]
    init_errors: list[str] = field(default_factory=list)


class PartialFailure(Exception):
    """A create or update that left the resource in place (StatusPartialFailure)."""

    def __init__(self, message: str, applied: Applied) -> None:
        super().__init__(message)
        self.applied = applied


def _bcrypt(text: str) -> str | None:
    """pulumi-random's bcryptHash (bcrypt, cost 10), where the platform's crypt(3) has it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # pylint: disable=import-outside-toplevel,deprecated-module
        return crypt.crypt(text, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))
    except (ImportError, AttributeError, ValueError):
        return None


def _inputs_as_outputs(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if not k.startswith("__")}


class Providers:
    def __init__(self, actions: Actions, provider_state: Callable[[str], ResourceState | None]) -> None:
        self.actions = actions
        self.provider_state = provider_state
        self._lock = threading.Lock()

    # -- reaching a docker daemon (EnsureProvider) ------------------------------------------
    def _client(self, res: ResourceState) -> Any:
        provider_id = res.provider_id()
        with self._lock:
            if provider_id not in self.actions.providers:
                provider = self.provider_state(res.provider)
                if provider is None:
                    raise RuntimeError(f"{res.urn}: its provider {res.provider} is not in the state")
                self.actions.connect(provider_id, plain(provider.inputs))
        return self.actions.client(provider_id)

    def _finish(self, res: ResourceState, outputs: dict[str, Any]) -> dict[str, Any]:
        schema = schemas.BRIDGED.get(res.type)
        extra = list(res.additionalSecretOutputs) + (sorted(schema.secret_outputs) if schema else [])
        return mark_secret_keys(outputs, res.inputs, extra)

    # -- Create ---------------------------------------------------------------------------
    def create(self, new: ResourceState, preview: bool) -> Applied:
        typ = new.type
        if not new.custom:
            return Applied("", {})
        if preview:
            # The bridge's ProposedState / infer's preview: the inputs, computed outputs unknown.
            return Applied("", self._finish(new, _inputs_as_outputs(new.inputs)))
        inputs = plain(new.inputs)
        if typ in schemas.PROVIDERS:
            # A provider resource only records its configuration; the daemon is reached
            # when a resource first needs it.
            return Applied(pysecrets.token_hex(16), self._finish(new, _inputs_as_outputs(new.inputs)))
        if typ == schemas.CONTAINER:
            return self._create_container(new, inputs)
        if typ == schemas.IMAGE:
            found = self.actions.find_or_pull_image(self._client(new), inputs["name"])
            outputs = {**_inputs_as_outputs(new.inputs), **found}
            return Applied(found["imageId"] + inputs["name"], self._finish(new, outputs))
        if typ == schemas.VOLUME:
            labels = {lab["label"]: lab["value"] for lab in inputs.get("labels") or []}
            made = self.actions.create_volume(self._client(new), inputs["name"], inputs.get("driver"), labels)
            return Applied(inputs["name"], self._finish(new, {**_inputs_as_outputs(new.inputs), **made}))
        if typ in schemas.COMMANDS:
            result = {"stdout": "", "stderr": ""}
            if inputs.get("create"):
                # A failing create is a plain error: nothing is written to state (§2).
                result = self._run(new, inputs, inputs["create"], previous=None)
            outputs = {**_inputs_as_outputs(new.inputs), **result}
            return Applied(f"{new.name}-{pysecrets.token_hex(4)}", self._finish(new, outputs))
        if typ == schemas.RANDOM_PASSWORD:
            result = self.actions.random_password(inputs)
            outputs = {**_inputs_as_outputs(new.inputs), "result": result, "bcryptHash": _bcrypt(result)}
            return Applied("none", self._finish(new, outputs))
        if typ == schemas.RANDOM_BYTES:
            raw = self.actions.random_bytes(inputs)
            outputs = {**_inputs_as_outputs(new.inputs), "base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
            return Applied("none", self._finish(new, outputs))
        raise UnsupportedByExecutor(f"the offline executor cannot create {typ}")

    def _create_container(self, new: ResourceState, inputs: dict[str, Any]) -> Applied:
        try:
            made = self.actions.create_container(self._client(new), inputs)
        except InitError as err:
            outputs = self._container_outputs(new, inputs, err.observed)
            raise PartialFailure(str(err), Applied(err.resource_id, outputs, [str(err)])) from err
        return Applied(made["id"], self._container_outputs(new, inputs, made))

    def _container_outputs(self, new: ResourceState, inputs: dict[str, Any], observed: dict[str, Any]) -> dict[str, Any]:
        outputs = _inputs_as_outputs(new.inputs)
        # Read after create (§1): a stopped container gets its exit code, and must_run=true
        # is written back as false, so the next `up` shows an update that starts it.
        if not observed.get("running", True):
            outputs["exitCode"] = observed.get("exitCode")
            if inputs.get("mustRun", True):
                outputs["mustRun"] = False
        else:
            outputs["exitCode"] = None
        if inputs.get("attach") and inputs.get("logs"):
            outputs["containerLogs"] = observed.get("containerLogs") or ""
        return self._finish(new, outputs)

    # -- Update ---------------------------------------------------------------------------
    def update(self, old: ResourceState, new: ResourceState, diff: DiffResult, preview: bool) -> Applied:
        typ = new.type
        if not new.custom or typ in schemas.PROVIDERS:
            return Applied(old.id, self._finish(new, _inputs_as_outputs(new.inputs)) if new.custom else {})
        if typ in schemas.BRIDGED:
            planned = self._planned(old, new)
            if preview:
                return Applied(old.id, planned)
            try:
                self._apply_bridged_update(old, new)
            except Exception as err:  # the bridge returns the partial state (§1)
                raise PartialFailure(str(err), Applied(old.id, planned, [str(err)])) from err
            if typ == schemas.IMAGE:
                found = self.actions.find_or_pull_image(self._client(new), plain(new.inputs)["name"])
                planned = self._finish(new, {**planned, **found})
            return Applied(old.id, planned)
        if typ in schemas.COMMANDS:
            outputs = _inputs_as_outputs(new.inputs)
            if preview:
                # markComputed: every output depends on every input, so any change makes
                # stdout/stderr unknown (left out, §2 "Preview").
                if not diff.changes:
                    outputs.update(stdout=old.outputs.get("stdout"), stderr=old.outputs.get("stderr"))
                return Applied(old.id, self._finish(new, outputs))
            inputs = plain(new.inputs)
            script = inputs.get("update") or inputs.get("create")
            previous = (plain(old.outputs.get("stdout")) or "", plain(old.outputs.get("stderr")) or "")
            if script:
                # A failing update is an error and the old state stays (§2).
                outputs.update(self._run(new, inputs, script, previous=previous))
            else:
                outputs.update(stdout=old.outputs.get("stdout"), stderr=old.outputs.get("stderr"))
            return Applied(old.id, self._finish(new, outputs))
        raise UnsupportedByExecutor(f"the offline executor cannot update {typ}")

    def _planned(self, old: ResourceState, new: ResourceState) -> dict[str, Any]:
        """Update stores the planned values: new inputs plus the old computed outputs."""
        schema = schemas.BRIDGED[new.type]
        outputs = _inputs_as_outputs(new.inputs)
        for key in schema.computed:
            if key in old.outputs:
                outputs[key] = old.outputs[key]
        return self._finish(new, outputs)

    def _apply_bridged_update(self, old: ResourceState, new: ResourceState) -> None:
        if new.type != schemas.CONTAINER:
            return
        before, after = plain(old.outputs), plain(new.inputs)
        client = self._client(new)
        # One ContainerUpdate carries the restart policy and the resource values (§1 table).
        keys = ("restart", "maxRetryCount", "cpuShares")
        if [before.get(k) for k in keys] != [after.get(k) for k in keys]:
            self.actions.update_container_resources(client, old.id, after.get("restart") or "no",
                                                    int(after.get("maxRetryCount") or 0),
                                                    int(after.get("cpuShares") or 0))
        # must_run false -> true starts the container (only if start); nothing else does.
        if before.get("mustRun") is False and after.get("mustRun", True) and after.get("start", True):
            self.actions.start_container(client, old.id)

    # -- Delete ---------------------------------------------------------------------------
    def delete(self, old: ResourceState) -> None:
        typ = old.type
        if not old.custom or typ in schemas.PROVIDERS or typ in schemas.RANDOMS:
            return
        state = plain(old.outputs) if old.outputs else plain(old.inputs)
        if typ == schemas.CONTAINER:
            self.actions.delete_container(self._client(old), old.id, bool(state.get("attach")),
                                          state.get("destroyGraceSeconds"), bool(state.get("removeVolumes", True)))
            return
        if typ == schemas.IMAGE:
            if not state.get("keepLocally"):
                self.actions.remove_image(self._client(old), state["name"], bool(state.get("forceRemove")))
            return
        if typ == schemas.VOLUME:
            self.actions.remove_volume(self._client(old), state.get("name") or old.id)
            return
        if typ in schemas.COMMANDS:
            # The OLD state's delete, with the old connection, environment and stdin (§2).
            if state.get("delete"):
                previous = (state.get("stdout") or "", state.get("stderr") or "")
                self._run(old, state, state["delete"], previous=previous)
            return
        raise UnsupportedByExecutor(f"the offline executor cannot delete {typ}")

    # -- Read (refresh) ----------------------------------------------------------------------
    def read(self, res: ResourceState) -> ResourceState | None:
        """The refreshed state, or None when the resource is gone."""
        typ = res.type
        if not res.custom or typ in schemas.PROVIDERS or typ in schemas.RANDOMS or typ in schemas.COMMANDS:
            # pulumi-command has no Read of its own: infer's default returns the state as is.
            return res
        state = plain(res.outputs)
        refreshed = res.copy()
        if typ == schemas.CONTAINER:
            seen = self.actions.inspect_container(self._client(res), res.id)
            if seen is None:
                return None
            if not seen["running"]:
                refreshed.outputs["exitCode"] = seen["exitCode"]
                if state.get("mustRun", True):
                    refreshed.outputs["mustRun"] = False
            return refreshed
        if typ == schemas.IMAGE:
            found = self.actions.inspect_image(self._client(res), state["name"])
            if found is None:
                return None
            refreshed.outputs.update(found)
            return refreshed
        if typ == schemas.VOLUME:
            found = self.actions.inspect_volume(self._client(res), state.get("name") or res.id)
            if found is None:
                return None
            refreshed.outputs.update(found)
            return refreshed
        raise UnsupportedByExecutor(f"the offline executor cannot read {typ}")

    # -- commands ------------------------------------------------------------------------
    def _run(self, res: ResourceState, inputs: dict[str, Any], script: str,
             previous: tuple[str, str] | None) -> dict[str, str]:
        stdin = inputs.get("stdin")
        if res.type == schemas.REMOTE_COMMAND:
            result = self.actions.run_remote(inputs["connection"], script, stdin)
        else:
            environment = dict(inputs.get("environment") or {})
            if previous is not None and inputs.get("addPreviousOutputInEnv", True):
                # Set from the previous outputs, and only when non-empty (§2 "Environment").
                if previous[0]:
                    environment["PULUMI_COMMAND_STDOUT"] = previous[0]
                if previous[1]:
                    environment["PULUMI_COMMAND_STDERR"] = previous[1]
            result = self.actions.run_local(script, environment, stdin)
        return {"stdout": result.stdout, "stderr": result.stderr}


def refuse_unmodelled_command(typ: str, inputs: dict[str, Any]) -> None:
    """Remote command features whose outcome depends on the host's sshd: pulumi-command
    sends `environment` and PULUMI_COMMAND_STDOUT/STDERR with SSH Setenv, which the
    server accepts only for names its AcceptEnv lists (an error for `environment`, a
    warning for the two variables); the executor's ssh cannot tell what was accepted."""
    if typ != schemas.REMOTE_COMMAND:
        return
    if inputs.get("environment"):
        raise UnsupportedByExecutor(
            "command:remote:Command `environment`: pulumi-command sets it with SSH Setenv (refused unless the "
            "host's sshd AcceptEnv lists each name); the offline executor cannot reproduce that")
    scripts = " ".join(str(plain(inputs.get(k)) or "") for k in ("create", "update", "delete"))
    if inputs.get("addPreviousOutputInEnv", True) and "PULUMI_COMMAND_STD" in scripts:
        raise UnsupportedByExecutor(
            "command:remote:Command scripts reading PULUMI_COMMAND_STDOUT/STDERR: pulumi-command offers them "
            "with SSH Setenv, set only where the host's sshd AcceptEnv allows; the offline executor cannot "
            "reproduce that")
