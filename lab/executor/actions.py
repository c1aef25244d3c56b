"""What each resource type the program declares does against the real world.

One function pair (create, delete) per type token; `SUPPORTED` lists the arguments each
one implements. An argument outside that list is an error naming it: an executor that
silently dropped, say, `capabilities` would "prove" a deployment the real provider
would run differently.
"""
from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shlex
import string
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any

import docker
import docker.errors
from docker.types import Healthcheck, LogConfig, Ulimit

from lab.executor.daemons import DaemonPool

CONTAINER_ARGS = {
    "name", "image", "command", "entrypoints", "envs", "networkMode", "volumes", "uploads",
    "labels", "hosts", "capabilities", "restart", "maxRetryCount", "healthcheck", "wait",
    "waitTimeout", "mustRun", "attach", "logs", "logDriver", "logOpts", "destroyGraceSeconds",
    "start", "rm", "ulimits",
}
SUPPORTED: dict[str, set[str]] = {
    "pulumi:providers:docker": {"host", "sshOpts", "version"},
    "pulumi:providers:command": {"version"},
    "pulumi:providers:random": {"version"},
    "docker:index/remoteImage:RemoteImage": {"name", "keepLocally", "pullTriggers"},
    "docker:index/volume:Volume": {"name", "driver", "labels"},
    "docker:index/container:Container": CONTAINER_ARGS,
    "command:remote:Command": {"connection", "create", "update", "delete", "triggers", "logging", "environment",
                               "stdin", "addPreviousOutputInEnv"},
    "command:local:Command": {"create", "update", "delete", "triggers", "logging", "environment", "stdin"},
    "random:index/randomPassword:RandomPassword": {
        "length", "special", "overrideSpecial", "upper", "lower", "numeric", "number", "minLower",
        "minUpper", "minNumeric", "minSpecial", "keepers",
    },
    "random:index/randomBytes:RandomBytes": {"length", "keepers"},
}


class UnsupportedByExecutor(Exception):
    pass


def check_supported(typ: str, inputs: dict[str, Any]) -> None:
    if typ.startswith("kolla-ha:"):
        return
    if typ not in SUPPORTED:
        raise UnsupportedByExecutor(f"the offline executor does not implement resource type {typ}")
    unknown = sorted(k for k, v in inputs.items() if v is not None and k not in SUPPORTED[typ])
    if unknown:
        raise UnsupportedByExecutor(f"the offline executor does not implement {typ} argument(s) {', '.join(unknown)}")


def _nanoseconds(duration: str) -> int:
    units = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    for suffix in ("ms", "s", "m", "h"):
        if duration.endswith(suffix):
            return int(float(duration[: -len(suffix)]) * units[suffix])
    return int(duration)


def _upload_archive(uploads: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for up in uploads:
            data = (
                base64.b64decode(up["contentBase64"]) if up.get("contentBase64") else str(up.get("content", "")).encode()
            )
            info = tarfile.TarInfo(name=up["file"].lstrip("/"))
            info.size = len(data)
            mode = up.get("permissions") or ("0755" if up.get("executable") else "0644")
            info.mode = int(str(mode), 8)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Actions:
    def __init__(self, pool: DaemonPool) -> None:
        self.pool = pool
        self.providers: dict[str, docker.DockerClient] = {}

    # -- providers -------------------------------------------------------------------
    def provider(self, urn_and_id: str | None) -> docker.DockerClient:
        if not urn_and_id:
            raise UnsupportedByExecutor("a docker resource without an explicit provider (the default provider)")
        provider_id = urn_and_id.rsplit("::", 1)[-1]
        return self.providers[provider_id]

    def create_provider(self, provider_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        # Providers receive non-string config JSON-encoded, as the engine passes it.
        ssh_opts = inputs.get("sshOpts") or []
        if isinstance(ssh_opts, str):
            ssh_opts = json.loads(ssh_opts)
        client = self.pool.client(inputs["host"], ssh_opts)
        client.ping()
        self.providers[provider_id] = client
        return dict(inputs)

    # -- images and volumes ----------------------------------------------------------
    def create_image(self, client: docker.DockerClient, inputs: dict[str, Any]) -> dict[str, Any]:
        name = inputs["name"]
        repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
        image = client.images.pull(repo, tag=tag)
        digests = image.attrs.get("RepoDigests") or [""]
        return {**inputs, "imageId": image.id, "repoDigest": digests[0]}

    def delete_image(self, client: docker.DockerClient, state: dict[str, Any]) -> None:
        if state.get("keepLocally"):
            return
        try:
            client.images.remove(state["imageId"], force=True)
        except docker.errors.NotFound:
            pass

    def create_volume(self, client: docker.DockerClient, inputs: dict[str, Any]) -> dict[str, Any]:
        try:
            volume = client.volumes.get(inputs["name"])
        except docker.errors.NotFound:
            volume = client.volumes.create(name=inputs["name"], driver=inputs.get("driver") or "local")
        return {**inputs, "driver": volume.attrs.get("Driver"), "mountpoint": volume.attrs.get("Mountpoint")}

    def delete_volume(self, client: docker.DockerClient, state: dict[str, Any]) -> None:
        try:
            client.volumes.get(state["name"]).remove(force=True)
        except docker.errors.NotFound:
            pass

    # -- containers ------------------------------------------------------------------
    def create_container(self, client: docker.DockerClient, inputs: dict[str, Any]) -> dict[str, Any]:
        hc = inputs.get("healthcheck")
        caps = inputs.get("capabilities") or {}
        restart = inputs.get("restart") or "no"
        container = client.containers.create(
            image=inputs["image"],
            name=inputs["name"],
            command=inputs.get("command"),
            entrypoint=inputs.get("entrypoints"),
            environment=inputs.get("envs") or [],
            network_mode=inputs.get("networkMode"),
            volumes={
                (v.get("volumeName") or v.get("hostPath")): {
                    "bind": v["containerPath"], "mode": "ro" if v.get("readOnly") else "rw"
                }
                for v in inputs.get("volumes") or []
            },
            labels={lab["label"]: lab["value"] for lab in inputs.get("labels") or []},
            extra_hosts={h["host"]: h["ip"] for h in inputs.get("hosts") or []} or None,
            cap_add=caps.get("adds") or None,
            cap_drop=caps.get("drops") or None,
            restart_policy={"Name": restart, "MaximumRetryCount": inputs.get("maxRetryCount") or 0}
            if restart != "no" else None,
            healthcheck=Healthcheck(
                test=hc["tests"],
                interval=_nanoseconds(hc.get("interval") or "30s"),
                timeout=_nanoseconds(hc.get("timeout") or "30s"),
                retries=int(hc.get("retries") or 3),
                start_period=_nanoseconds(hc.get("startPeriod") or "0s"),
            ) if hc else None,
            ulimits=[Ulimit(name=u["name"], soft=int(u["soft"]), hard=int(u["hard"]))
                     for u in inputs.get("ulimits") or []] or None,
            log_config=LogConfig(type=inputs.get("logDriver") or "json-file", config=inputs.get("logOpts") or {}),
            stop_signal=None,
        )
        if inputs.get("uploads"):
            container.put_archive("/", _upload_archive(inputs["uploads"]))
        outputs = {**inputs, "containerId": container.id}
        if inputs.get("start") is False:
            return outputs
        container.start()
        if inputs.get("attach"):
            result = container.wait(timeout=int(inputs.get("waitTimeout") or 1800))
            logs = container.logs().decode(errors="replace") if inputs.get("logs") else ""
            outputs.update(exitCode=int(result["StatusCode"]), containerLogs=logs)
            if result["StatusCode"] != 0:
                # The program reports the failure by name; its output is what explains it.
                tail = container.logs(tail=30).decode(errors="replace")
                print(f"one-shot {inputs.get('name')} exited {result['StatusCode']}; last lines:\n{tail}",
                      file=sys.stderr, flush=True)
            if inputs.get("rm"):
                container.remove(force=True)
            return outputs
        if inputs.get("wait") and hc:
            self._wait_healthy(container, int(inputs.get("waitTimeout") or 60))
        container.reload()
        outputs.update(exitCode=None)
        return outputs

    @staticmethod
    def _wait_healthy(container: Any, timeout: int) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            container.reload()
            state = container.attrs["State"]
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                return
            if not state.get("Running") and state.get("Status") == "exited" and not state.get("Restarting"):
                break
            time.sleep(1)
        container.reload()
        tail = container.logs(tail=30).decode(errors="replace")
        probe = ((container.attrs["State"].get("Health") or {}).get("Log") or [{}])[-1].get("Output", "")
        raise RuntimeError(
            f"container {container.name} did not become healthy within {timeout}s "
            f"(status {container.attrs['State'].get('Status')}); last probe: {probe.strip()[:500]}\n{tail}"
        )

    def delete_container(self, client: docker.DockerClient, state: dict[str, Any]) -> None:
        try:
            container = client.containers.get(state["name"])
        except docker.errors.NotFound:
            return
        if container.status == "running":
            container.stop(timeout=int(state.get("destroyGraceSeconds") or 10))
        container.remove(force=True)

    # -- commands --------------------------------------------------------------------
    @staticmethod
    def run_remote(connection: dict[str, Any], script: str, environment: dict[str, str] | None = None,
                   stdin: str | None = None) -> dict[str, str]:
        """Run `script` with bash on the host, as pulumi-command does over its SSH session;
        `stdin` (the resource's stdin input) is the script's standard input."""
        with tempfile.TemporaryDirectory() as tmp:
            opts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                    "-o", "BatchMode=yes", "-p", str(int(connection.get("port") or 22))]
            if connection.get("privateKey"):
                key = os.path.join(tmp, "key")
                with open(key, "w", encoding="utf-8") as fh:
                    fh.write(connection["privateKey"])
                os.chmod(key, 0o600)
                opts += ["-i", key]
            target = f"{connection.get('user') or 'root'}@{connection['host']}"
            # Like pulumi-command (session.Setenv): the server drops what AcceptEnv does
            # not allow, so a program relying on `environment` fails here as it would there.
            for key, value in (environment or {}).items():
                opts += ["-o", f"SetEnv={key}={value}"]
            done = subprocess.run(["ssh", *opts, target, "bash -c " + shlex.quote(script)],
                                  input=stdin or "", text=True, capture_output=True, timeout=1800, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"remote command on {connection['host']} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        return {"stdout": done.stdout, "stderr": done.stderr}

    @staticmethod
    def run_local(script: str, environment: dict[str, str] | None = None, stdin: str | None = None) -> dict[str, str]:
        done = subprocess.run(["bash", "-c", script], input=stdin or "", text=True, capture_output=True,
                              timeout=1800, check=False, env={**os.environ, **(environment or {})})
        if done.returncode != 0:
            raise RuntimeError(f"local command exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        return {"stdout": done.stdout, "stderr": done.stderr}

    # -- random ----------------------------------------------------------------------
    @staticmethod
    def random_password(inputs: dict[str, Any]) -> dict[str, Any]:
        alphabet = ""
        if inputs.get("lower", True):
            alphabet += string.ascii_lowercase
        if inputs.get("upper", True):
            alphabet += string.ascii_uppercase
        if inputs.get("numeric", inputs.get("number", True)):
            alphabet += string.digits
        if inputs.get("special", True):
            alphabet += inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?"
        result = "".join(secrets.choice(alphabet) for _ in range(int(inputs["length"])))
        return {**inputs, "result": result, "bcryptHash": ""}

    @staticmethod
    def random_bytes(inputs: dict[str, Any]) -> dict[str, Any]:
        raw = os.urandom(int(inputs["length"]))
        return {**inputs, "base64": base64.b64encode(raw).decode(), "hex": raw.hex()}

