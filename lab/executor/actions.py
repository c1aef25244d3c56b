"""What each provider call does to the real world: Docker SDK calls and ssh.

One method per provider operation, doing what PULUMI-ENGINE.md §1-§2 says the provider
does (kreuzwerker's create/update/read/delete funcs, pulumi-command's run). The engine
(`engine.py`) decides *when*; this module only knows *how*. Tests replace it with a
recorder (tests/unit/executor_fakes.py).
"""
from __future__ import annotations

import base64
import io
import os
import re
import secrets
import string
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

import docker
import docker.errors
from docker.types import Healthcheck, LogConfig, Ulimit

from lab.executor.daemons import DaemonPool


class InitError(Exception):
    """The bridge's initializationError: the create (or update) failed after the
    resource came to exist, so the engine keeps it in state with `initErrors`."""

    def __init__(self, message: str, resource_id: str, observed: dict[str, Any]) -> None:
        super().__init__(message)
        self.resource_id = resource_id
        self.observed = observed


@dataclass
class CommandResult:
    stdout: str
    stderr: str


def _nanoseconds(duration: str) -> int:
    units = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    for suffix in ("ms", "s", "m", "h"):
        if duration.endswith(suffix):
            return int(float(duration[: -len(suffix)]) * units[suffix])
    return int(duration)


def upload_archive(uploads: list[dict[str, Any]]) -> bytes:
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


# ssh's own failures to reach the host (exit 255 with one of these), which pulumi-command
# retries up to dialErrorLimit times; a remote script exiting 255 is not one of them.
_DIAL_ERROR = re.compile(r"ssh: connect to host|Connection refused|Connection timed out|No route to host|"
                         r"kex_exchange_identification|Connection closed by .* port")


class Actions:
    def __init__(self, pool: DaemonPool | None) -> None:
        self.pool = pool
        self.providers: dict[str, docker.DockerClient] = {}
        # Where to say something worth a person's attention (the engine's progress lines).
        self.note: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)

    # -- docker providers --------------------------------------------------------------
    def connect(self, provider_id: str, inputs: dict[str, Any]) -> None:
        """Reach the daemon a docker.Provider names (its `host`, `sshOpts`)."""
        if provider_id in self.providers:
            return
        ssh_opts = inputs.get("sshOpts") or []
        if isinstance(ssh_opts, str):
            # Providers receive non-string config JSON-encoded, as the engine passes it.
            import json

            ssh_opts = json.loads(ssh_opts)
        assert self.pool is not None
        client = self.pool.client(inputs["host"], ssh_opts)
        client.ping()
        self.providers[provider_id] = client

    def client(self, provider_id: str) -> docker.DockerClient:
        return self.providers[provider_id]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    # -- RemoteImage ---------------------------------------------------------------------
    def find_or_pull_image(self, client: docker.DockerClient, name: str) -> dict[str, Any]:
        """findImage: the local image of that name, pulled only if absent (§1)."""
        try:
            image = client.images.get(name)
        except docker.errors.ImageNotFound:
            repo, tag = _split_ref(name)
            image = client.images.pull(repo, tag=tag)
        digests = image.attrs.get("RepoDigests") or [""]
        return {"imageId": image.id, "repoDigest": digests[0]}

    def inspect_image(self, client: docker.DockerClient, name: str) -> dict[str, Any] | None:
        try:
            image = client.images.get(name)
        except docker.errors.ImageNotFound:
            return None
        digests = image.attrs.get("RepoDigests") or [""]
        return {"imageId": image.id, "repoDigest": digests[0]}

    def remove_image(self, client: docker.DockerClient, name: str, force: bool) -> None:
        try:
            client.images.remove(name, force=force)
        except docker.errors.ImageNotFound:
            pass

    # -- Volume ----------------------------------------------------------------------------
    def create_volume(self, client: docker.DockerClient, name: str, driver: str | None,
                      labels: dict[str, str]) -> dict[str, Any]:
        volume = client.volumes.create(name=name, driver=driver or "local", labels=labels or None)
        return {"driver": volume.attrs.get("Driver"), "mountpoint": volume.attrs.get("Mountpoint")}

    def inspect_volume(self, client: docker.DockerClient, name: str) -> dict[str, Any] | None:
        try:
            volume = client.volumes.get(name)
        except docker.errors.NotFound:
            return None
        return {"driver": volume.attrs.get("Driver"), "mountpoint": volume.attrs.get("Mountpoint")}

    def remove_volume(self, client: docker.DockerClient, name: str) -> None:
        """VolumeRemove(force), retried for 30 s while the volume is in use (§1)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                client.api.remove_volume(name, force=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as err:
                if "in use" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(1)

    # -- Container ---------------------------------------------------------------------------
    def create_container(self, client: docker.DockerClient, inputs: dict[str, Any]) -> dict[str, Any]:
        """kreuzwerker's Create: create, uploads, start, wait for healthy, attach; then
        Read. Returns {"id", "running", "exitCode", "containerLogs"}. Raises InitError
        once the container exists, a plain error before."""
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
                interval=_nanoseconds(hc.get("interval") or "0s"),
                timeout=_nanoseconds(hc.get("timeout") or "0s"),
                retries=int(hc.get("retries") or 0),
                start_period=_nanoseconds(hc.get("startPeriod") or "0s"),
            ) if hc else None,
            ulimits=[Ulimit(name=u["name"], soft=int(u["soft"]), hard=int(u["hard"]))
                     for u in inputs.get("ulimits") or []] or None,
            log_config=LogConfig(type=inputs.get("logDriver") or "json-file", config=inputs.get("logOpts") or {}),
            cpu_shares=int(inputs["cpuShares"]) if inputs.get("cpuShares") else None,
        )
        try:
            if inputs.get("uploads"):
                container.put_archive("/", upload_archive(inputs["uploads"]))
            logs = ""
            if inputs.get("start", True):
                container.start()
                if inputs.get("wait"):
                    if not hc:
                        raise RuntimeError(
                            "you have supplied a 'wait' argument, but the container does not have a healthcheck "
                            "defined; container failed to be in healthy state")
                    self._wait_healthy(container, int(inputs.get("waitTimeout", 60)), restart)
                if inputs.get("attach"):
                    # Bounded only by the 20-minute create timeout; the exit status is
                    # ignored: a non-zero exit does not fail the create (§1).
                    status = container.wait(timeout=1200)
                    if inputs.get("logs"):
                        logs = container.logs().decode(errors="replace")
                    if status.get("StatusCode"):
                        # Not a failure for the provider; the program checks the exit code, and
                        # these lines are what explains it.
                        tail = container.logs(tail=30).decode(errors="replace").rstrip()
                        self.note(f"{inputs['name']} exited {status['StatusCode']}; its last lines:\n{tail}")
        except Exception as err:  # the container exists: an initialization error
            raise InitError(str(err), container.id, self._observe(container)) from err
        observed = self._observe(container)
        observed["containerLogs"] = logs if inputs.get("attach") and inputs.get("logs") else None
        return {"id": container.id, **observed}

    @staticmethod
    def _observe(container: Any) -> dict[str, Any]:
        container.reload()
        state = container.attrs["State"]
        return {"running": bool(state.get("Running")), "exitCode": int(state.get("ExitCode", 0))}

    @staticmethod
    def _wait_healthy(container: Any, timeout: int, restart: str) -> None:
        """Poll every second until Docker reports healthy, up to wait_timeout (§1)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            container.reload()
            state = container.attrs["State"]
            if (state.get("Health") or {}).get("Status") == "healthy":
                return
            # The provider would poll until the deadline; a container that exited with no
            # restart policy can never become healthy, so the outcome is already known.
            if restart == "no" and state.get("Status") == "exited":
                break
            time.sleep(1)
        container.reload()
        tail = container.logs(tail=30).decode(errors="replace")
        probe = ((container.attrs["State"].get("Health") or {}).get("Log") or [{}])[-1].get("Output", "")
        raise RuntimeError(
            f"container failed to be in healthy state: {container.name} not healthy within {timeout}s "
            f"(status {container.attrs['State'].get('Status')}); last probe: {probe.strip()[:500]}\n{tail}"
        )

    def update_container_resources(self, client: docker.DockerClient, container_id: str, restart: str,
                                   max_retry_count: int, cpu_shares: int) -> None:
        """The one ContainerUpdate call of an in-place update (restart policy + resources).
        A cpu_shares of 0 (unset) is left out, and Docker keeps the current weight: taking
        the argument away does not bring back the default, as with the provider."""
        client.api.update_container(
            container_id, restart_policy={"Name": "" if restart == "no" else restart,
                                          "MaximumRetryCount": max_retry_count},
            cpu_shares=cpu_shares or None)

    def start_container(self, client: docker.DockerClient, container_id: str) -> None:
        client.api.start(container_id)

    def inspect_container(self, client: docker.DockerClient, container_id: str) -> dict[str, Any] | None:
        try:
            attrs = client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        return {"running": bool(attrs["State"].get("Running")), "exitCode": int(attrs["State"].get("ExitCode", 0))}

    def delete_container(self, client: docker.DockerClient, container_id: str, attach: bool,
                         grace_seconds: int | None, remove_volumes: bool) -> None:
        """kreuzwerker's Delete: stop (unless attach) with destroy_grace_seconds or 0,
        force-remove, wait until gone; "no such container" is fine (§1)."""
        try:
            if not attach:
                client.api.stop(container_id, timeout=int(grace_seconds or 0))
            client.api.remove_container(container_id, v=remove_volumes, force=True)
        except docker.errors.NotFound:
            return
        for _ in range(60):
            try:
                client.api.inspect_container(container_id)
            except docker.errors.NotFound:
                return
            time.sleep(0.5)

    # -- pulumi-command ----------------------------------------------------------------------
    @staticmethod
    def run_remote(connection: dict[str, Any], script: str, stdin: str | None) -> CommandResult:
        """session.Run(script) over SSH: the login shell runs the script, `stdin` is its
        standard input; dial errors are retried up to dialErrorLimit (§2)."""
        with tempfile.TemporaryDirectory() as tmp:
            opts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                    "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(connection.get('perDialTimeout') or 15)}",
                    "-p", str(int(connection.get("port") or 22))]
            env = dict(os.environ)
            if connection.get("privateKey"):
                key = os.path.join(tmp, "key")
                with open(key, "w", encoding="utf-8") as fh:
                    fh.write(connection["privateKey"])
                os.chmod(key, 0o600)
                opts += ["-i", key, "-o", "IdentitiesOnly=yes"]
            if connection.get("agentSocketPath"):
                env["SSH_AUTH_SOCK"] = connection["agentSocketPath"]
            target = f"{connection.get('user') or 'root'}@{connection['host']}"
            attempts = max(1, int(connection.get("dialErrorLimit") or 10))
            for attempt in range(attempts):
                done = subprocess.run(["ssh", *opts, target, script], input=stdin or "", text=True,
                                      capture_output=True, timeout=3600, check=False, env=env)
                if done.returncode == 255 and _DIAL_ERROR.search(done.stderr) and attempt + 1 < attempts:
                    time.sleep(1)
                    continue
                break
        if done.returncode != 0:
            raise RuntimeError(f"Process exited with status {done.returncode}: running a command on "
                               f"{connection['host']}:\n{(done.stdout + done.stderr).strip()[-2000:]}")
        return CommandResult(_trim(done.stdout), _trim(done.stderr))

    @staticmethod
    def run_local(script: str, environment: dict[str, str], stdin: str | None) -> CommandResult:
        """`/bin/sh -c script` in the current directory, the default interpreter (§2)."""
        done = subprocess.run(["/bin/sh", "-c", script], input=stdin or "", text=True, capture_output=True,
                              timeout=3600, check=False, env={**os.environ, **environment})
        if done.returncode != 0:
            raise RuntimeError(f"exit status {done.returncode}: running a local command:\n"
                               f"{(done.stdout + done.stderr).strip()[-2000:]}")
        return CommandResult(_trim(done.stdout), _trim(done.stderr))

    # -- pulumi-random -----------------------------------------------------------------------
    @staticmethod
    def random_password(inputs: dict[str, Any]) -> str:
        """terraform-provider-random's password: the minimum of each class first, the rest
        from every enabled class, shuffled."""
        classes: list[tuple[str, int]] = []
        if inputs.get("upper", True):
            classes.append((string.ascii_uppercase, int(inputs.get("minUpper") or 0)))
        if inputs.get("lower", True):
            classes.append((string.ascii_lowercase, int(inputs.get("minLower") or 0)))
        if inputs.get("numeric", inputs.get("number", True)):
            classes.append((string.digits, int(inputs.get("minNumeric") or 0)))
        if inputs.get("special", True):
            classes.append((inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?",
                            int(inputs.get("minSpecial") or 0)))
        chars = [secrets.choice(alphabet) for alphabet, count in classes for _ in range(count)]
        everything = "".join(alphabet for alphabet, _ in classes)
        chars += [secrets.choice(everything) for _ in range(int(inputs["length"]) - len(chars))]
        secrets.SystemRandom().shuffle(chars)
        return "".join(chars)

    @staticmethod
    def random_bytes(inputs: dict[str, Any]) -> bytes:
        return os.urandom(int(inputs["length"]))


def _trim(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def _split_ref(name: str) -> tuple[str, str]:
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = name.rpartition(":")
        return repo, tag
    return name, "latest"
