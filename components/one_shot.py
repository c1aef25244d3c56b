"""A one-shot kolla step (Galera bootstrap, db create, db sync, keystone register...):
the service's image run to completion on one host, as a pulumi-command remote Command.

Why a Command and not a `docker.Container` with `attach`:

- The Docker provider ignores an attached container's exit status, so a failed step
  would stay in state as created, and nothing would run it again.
  A Command whose `create` fails is not written to state and runs again on the next
  `pulumi up`. A Command whose update fails keeps its old state, so the update is
  retried.
- A container with a fixed name is replaced delete-before-replace. The engine then
  deletes every resource that takes one of its outputs as an input, on every host,
  before it deletes the container itself. A Command's changed inputs (a new config, a
  new image) run it again as an *update* (PULUMI-ENGINE.md §2). Nothing is replaced,
  so nothing is deleted, and the replicas only `depends_on` their steps. So every step
  must be idempotent.

The config files (a tar of /var/lib/kolla/config_files/, config.json included) arrive
on the command's stdin, base64 encoded, as a secret. They are never in argv, the
environment, labels or a file on the host. `docker cp -` reads them into the created
container, kolla_start copies them into place as for any kolla container, and the
container is removed once it exits. Its output is kept only when it fails: the last
lines then go to stderr, which the command's error message carries. The step scripts
never print a secret. The command's stdout and stderr are still secret outputs.
"""
from __future__ import annotations

import base64
import io
import shlex
import tarfile
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_command as command

from components.host import HostNode
from components.kolla import CONFIG_DIR, LOG_OPTS, KollaFile, config_json

# Long enough for a schema migration of a large database; a step that hangs longer is
# stopped and fails the deployment instead of blocking it for ever.
STEP_TIMEOUT_S = 1800
# Lines of the failed step's output shown in the error.
FAILURE_TAIL = 40


@dataclass(frozen=True)
class OneShot:
    """What a tier asks of one step on one host."""

    name: str
    image: str
    command: str
    files: Sequence[KollaFile]
    # (named volume, container path)
    volumes: Sequence[tuple[str, str]] = ()
    permissions: Sequence[dict[str, object]] = ()
    timeout_s: int = STEP_TIMEOUT_S


def config_archive(files: Mapping[str, str]) -> str:
    """A tar of `files` (path in the container → content), base64 encoded.

    Byte-for-byte the same for the same files: no timestamps or owners of this machine.
    A different archive would be a changed input, and the step would run again on every
    `pulumi up`.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            data = files[path].encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            # Root-only until kolla_start copies each file to its owner and mode.
            info.mode = 0o600
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


def run_script(step: OneShot, host: str, image_id: str) -> str:
    """Shell run on the host: create the step's container, copy the config from stdin,
    run it to completion and exit with its status."""
    name = shlex.quote(step.name)
    create = [
        "docker create",
        f"--name {name}",
        "--network host",
        "--env KOLLA_CONFIG_STRATEGY=COPY_ALWAYS",
        f"--env KOLLA_SERVICE_NAME={name}",
        f"--label kolla-ha.service={name}",
        f"--label kolla-ha.host={shlex.quote(host)}",
        "--log-driver json-file",
        *(f"--log-opt {k}={v}" for k, v in sorted(LOG_OPTS.items())),
        *(f"--volume {shlex.quote(vol)}:{shlex.quote(path)}" for vol, path in step.volumes),
        shlex.quote(image_id),
    ]
    return "\n".join([
        "set -u",
        f"name={name}",
        # A container left by an interrupted run: this run starts over.
        'docker rm -f "$name" >/dev/null 2>&1',
        " \\\n  ".join(create) + " >/dev/null || exit 1",
        # (Without pipefail, which not every login shell has, a stream base64 cannot
        # decode shows up as kolla_start's "config.json is missing" when the step runs.)
        'if ! base64 -d | docker cp - "$name:/"; then',
        '  docker rm -f "$name" >/dev/null',
        '  echo "kolla-ha: the config files of $name could not be copied into it" >&2',
        "  exit 1",
        "fi",
        'docker start "$name" >/dev/null || { docker rm -f "$name" >/dev/null; exit 1; }',
        f'if ! rc=$(timeout {step.timeout_s} docker wait "$name"); then',
        f'  echo "kolla-ha: $name did not finish within {step.timeout_s}s; stopped" >&2',
        "  rc=124",
        "fi",
        'if [ "$rc" != 0 ]; then',
        f'  echo "kolla-ha: one-shot step $name on {host} exited with $rc; its last lines:" >&2',
        f'  docker logs --tail {FAILURE_TAIL} "$name" 1>&2',
        "fi",
        'docker rm -f "$name" >/dev/null',
        'exit "$rc"',
    ]) + "\n"


def one_shot_step(
    host: HostNode,
    step: OneShot,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> command.remote.Command:
    """`step` run on `host` once its `depends_on` are done, again whenever its config or
    image changes, and again on the next `pulumi up` when it failed."""
    paths = [f"{CONFIG_DIR}/config.json"] + [f"{CONFIG_DIR}/{f.name}" for f in step.files]
    contents: list[pulumi.Input[str]] = [config_json(step.command, step.files, step.permissions)]
    for f in step.files:
        if f.content is None:
            raise ValueError(f"one-shot step {step.name}: file {f.name} has no content to send")
        contents.append(f.content)
    archive = pulumi.Output.all(*contents).apply(lambda values: config_archive(dict(zip(paths, values))))
    image = host.image(step.image)
    return command.remote.Command(
        f"{host.spec.name}-{step.name}",
        connection=host.connection,
        # The image id, not its name: a new image runs the step again (a db sync after
        # an upgrade), and the step runs exactly the image the replicas will.
        create=image.image_id.apply(lambda image_id: run_script(step, host.spec.name, image_id)),
        stdin=pulumi.Output.secret(archive),
        logging="none",
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[*depends_on, *(host.volume(vol) for vol, _ in step.volumes)],
            additional_secret_outputs=["stdout", "stderr"],
        ),
    )
