"""One controller host: its Docker provider, its images and volumes, its preparation.

Each host gets its own `docker.Provider` (ssh:// in production), so every container in
the stack names the daemon it lives on. Preparation that a container cannot do for
itself (kernel settings, /etc/hosts) runs once over SSH through pulumi-command.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components.inventory import Host, Images


@dataclass(frozen=True)
class HostPrep:
    """What a host needs before its containers start."""

    nonlocal_bind: bool
    etc_hosts: tuple[tuple[str, str], ...]
    # Folders the host's containers bind-mount (Swift's devices and rings). Made when
    # missing, never removed: a device folder holds data, or is a disk's mount point.
    folders: tuple[str, ...] = ()

    @property
    def needed(self) -> bool:
        return bool(self.nonlocal_bind or self.etc_hosts or self.folders)


def prepare_script(prep: HostPrep) -> str:
    """Idempotent shell run on the host; its text is the trigger for re-running it."""
    lines = ["set -eu"]
    if prep.nonlocal_bind:
        # HAProxy binds the VIP on every LB host, including those that do not hold it.
        lines += [
            "sysctl -q -w net.ipv4.ip_nonlocal_bind=1",
            "mkdir -p /etc/sysctl.d",
            "echo 'net.ipv4.ip_nonlocal_bind = 1' > /etc/sysctl.d/90-kolla-ha.conf",
        ]
    if prep.etc_hosts:
        block = "\\n".join(f"{ip} {name}" for name, ip in prep.etc_hosts)
        # Rewritten in place (cat >) rather than renamed (sed -i): /etc/hosts is often a
        # bind mount (containers, some cloud images) that cannot be replaced.
        lines += [
            "tmp=$(mktemp)",
            "awk '/^# BEGIN kolla-ha/{skip=1} !skip{print} /^# END kolla-ha/{skip=0}' /etc/hosts > \"$tmp\"",
            f"printf '# BEGIN kolla-ha\\n{block}\\n# END kolla-ha\\n' >> \"$tmp\"",
            "cat \"$tmp\" > /etc/hosts",
            "rm -f \"$tmp\"",
        ]
    if prep.folders:
        lines.append("install -d -m 0755 " + " ".join(shlex.quote(f) for f in prep.folders))
    return "\n".join(lines) + "\n"


def unprepare_script(prep: HostPrep) -> str:
    lines = ["set -eu"]
    if prep.nonlocal_bind:
        lines.append("rm -f /etc/sysctl.d/90-kolla-ha.conf")
    if prep.etc_hosts:
        lines += [
            "tmp=$(mktemp)",
            "awk '/^# BEGIN kolla-ha/{skip=1} !skip{print} /^# END kolla-ha/{skip=0}' /etc/hosts > \"$tmp\"",
            "cat \"$tmp\" > /etc/hosts",
            "rm -f \"$tmp\"",
        ]
    return "\n".join(lines) + "\n"


def ssh_opts(host: Host) -> list[str]:
    opts = ["-o", "BatchMode=yes", "-p", str(host.ssh.port)]
    if host.ssh.key_file:
        opts = ["-i", os.path.expanduser(host.ssh.key_file)] + opts
    return opts


class HostNode(pulumi.ComponentResource):
    """A host of the inventory with the Docker provider that reaches its daemon."""

    def __init__(
        self,
        spec: Host,
        images: Images,
        prep: HostPrep,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kolla-ha:host:HostNode", spec.name, None, opts)
        self.spec = spec
        self._images = images
        self._image_cache: dict[str, docker.RemoteImage] = {}
        self._volume_cache: dict[str, docker.Volume] = {}
        self.provider = docker.Provider(
            f"{spec.name}-docker",
            host=spec.docker_url,
            ssh_opts=ssh_opts(spec) if spec.docker_url.startswith("ssh://") else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # No agent_socket_path: without one, pulumi-command asks the agent at the
        # provider's own SSH_AUTH_SOCK (remote/connection.go, tryGetDefaultAgentSocket).
        # A path written here would be an input, and it differs with every login, so
        # every `pulumi up` from a new shell would re-run every command on every host.
        self.connection = command.remote.ConnectionArgs(
            host=spec.address,
            port=spec.ssh.port,
            user=spec.ssh.user,
            private_key=_private_key(spec),
        )
        self.prepared: pulumi.Resource | None = None
        if prep.needed:
            self.prepared = command.remote.Command(
                f"{spec.name}-prepare",
                connection=self.connection,
                create=prepare_script(prep),
                update=prepare_script(prep),
                delete=unprepare_script(prep),
                logging="stdoutAndStderr",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"docker_url": spec.docker_url, "address": spec.address})

    def image(self, name: str) -> docker.RemoteImage:
        """The image pulled onto this host; one RemoteImage per (host, image)."""
        if name not in self._image_cache:
            self._image_cache[name] = docker.RemoteImage(
                f"{self.spec.name}-image-{name}",
                name=self._images.ref(name),
                keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
            )
        return self._image_cache[name]

    def volume(self, name: str) -> docker.Volume:
        """A named data volume: it outlives container replacement, not `pulumi destroy`."""
        if name not in self._volume_cache:
            self._volume_cache[name] = docker.Volume(
                f"{self.spec.name}-volume-{name}",
                name=name,
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
            )
        return self._volume_cache[name]

    def shell(self) -> str:
        """How a person reaches this host, for error messages and docs."""
        return f"ssh {shlex.join(ssh_opts(self.spec))} {self.spec.ssh.user}@{self.spec.address}"


def _private_key(spec: Host) -> pulumi.Output[str] | None:
    if not spec.ssh.key_file:
        return None
    # parse_inventory has checked that the file exists.
    with open(os.path.expanduser(spec.ssh.key_file), encoding="utf-8") as fh:
        return pulumi.Output.secret(fh.read())
