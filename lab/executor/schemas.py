"""What each provider's schema says about the arguments the executor implements.

Facts from PULUMI-ENGINE.md §1 (kreuzwerker v4.5.0 schemas through pulumi-docker 5.x),
§2 (pulumi-command 1.2.1) and pulumi-random; names are the Pulumi (camelCase) ones the
SDK sends. `SUPPORTED` is the whole list of arguments the executor can perform: any
other argument is refused by name, so nothing the program asks for is silently dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"
REMOTE_COMMAND = "command:remote:Command"
LOCAL_COMMAND = "command:local:Command"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"
DOCKER_PROVIDER = "pulumi:providers:docker"
COMMAND_PROVIDER = "pulumi:providers:command"
RANDOM_PROVIDER = "pulumi:providers:random"
COMMANDS = (REMOTE_COMMAND, LOCAL_COMMAND)
RANDOMS = (RANDOM_PASSWORD, RANDOM_BYTES)
PROVIDERS = (DOCKER_PROVIDER, COMMAND_PROVIDER, RANDOM_PROVIDER)


@dataclass(frozen=True)
class BridgedSchema:
    """A Terraform-bridged resource (docker, random): which arguments force a new
    resource, which are updated in place, defaults Check fills in, TypeSet arguments
    (compared without order), Optional+Computed ones (no diff when left unset)."""

    force_new: frozenset[str]
    in_place: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    sets: frozenset[str] = frozenset()
    optional_computed: frozenset[str] = frozenset()
    # Computed-only outputs: unknown in a preview's create (PULUMI-ENGINE.md §3e).
    computed: frozenset[str] = frozenset()
    secret_outputs: frozenset[str] = frozenset()
    # pulumi-docker's resources.go: DeleteBeforeReplace on the schema (containers).
    schema_delete_before_replace: bool = False
    # SetAutonaming: `name` gets `<resource name>-<7 hex>` when the program sets none;
    # an explicit name then forces delete-before-replace (nameRequiresDeleteBeforeReplace).
    autonamed: bool = False


CONTAINER_SCHEMA = BridgedSchema(
    force_new=frozenset({
        "name", "image", "command", "entrypoints", "envs", "networkMode", "volumes", "uploads", "labels",
        "hosts", "capabilities", "logDriver", "logOpts", "ulimits",
        # Not implemented, but ForceNew with a default Check fills in.
        "readOnly", "tty", "stdinOpen",
    }),
    # §1 table: restart/maxRetryCount/cpuShares -> `docker update`; mustRun false->true ->
    # start; the others only change the state.
    in_place=frozenset({
        "restart", "maxRetryCount", "cpuShares", "healthcheck", "wait", "waitTimeout", "mustRun", "attach", "logs",
        "destroyGraceSeconds", "start", "rm", "removeVolumes", "containerReadRefreshTimeoutMilliseconds",
        "memoryReservation",
    }),
    defaults={
        "rm": False, "readOnly": False, "start": True, "wait": False, "waitTimeout": 60, "attach": False,
        "logs": False, "mustRun": True, "restart": "no", "removeVolumes": True, "memoryReservation": 0,
        "networkMode": "bridge", "containerReadRefreshTimeoutMilliseconds": 15000, "tty": False,
        "stdinOpen": False,
    },
    sets=frozenset({"envs", "volumes", "uploads", "labels", "hosts", "ulimits"}),
    optional_computed=frozenset({"command", "entrypoints", "envs", "labels", "logDriver", "healthcheck"}),
    computed=frozenset({"exitCode", "containerLogs", "bridge", "networkData"}),
    schema_delete_before_replace=True,
    autonamed=True,
)

IMAGE_SCHEMA = BridgedSchema(
    force_new=frozenset({"name", "pullTriggers", "triggers", "platform"}),
    in_place=frozenset({"keepLocally", "forceRemove"}),
    defaults={"platform": ""},
    sets=frozenset({"pullTriggers"}),
    computed=frozenset({"imageId", "repoDigest"}),
)

VOLUME_SCHEMA = BridgedSchema(
    force_new=frozenset({"name", "labels", "driver", "driverOpts"}),
    sets=frozenset({"labels"}),
    optional_computed=frozenset({"name", "driver"}),
    computed=frozenset({"mountpoint"}),
    autonamed=True,
)

_PASSWORD_ARGS = frozenset({
    "length", "special", "overrideSpecial", "upper", "lower", "numeric", "number", "minLower", "minUpper",
    "minNumeric", "minSpecial", "keepers",
})
# pulumi-random: every argument RequiresReplace; results are sensitive.
RANDOM_PASSWORD_SCHEMA = BridgedSchema(
    force_new=_PASSWORD_ARGS,
    computed=frozenset({"result", "bcryptHash"}),
    secret_outputs=frozenset({"result", "bcryptHash"}),
)
RANDOM_BYTES_SCHEMA = BridgedSchema(
    force_new=frozenset({"length", "keepers"}),
    computed=frozenset({"base64", "hex"}),
    secret_outputs=frozenset({"base64", "hex"}),
)

BRIDGED: dict[str, BridgedSchema] = {
    CONTAINER: CONTAINER_SCHEMA,
    IMAGE: IMAGE_SCHEMA,
    VOLUME: VOLUME_SCHEMA,
    RANDOM_PASSWORD: RANDOM_PASSWORD_SCHEMA,
    RANDOM_BYTES: RANDOM_BYTES_SCHEMA,
}

# pulumi-command: the connection's defaults (remote/connection.go SetDefault).
CONNECTION_DEFAULTS: dict[str, Any] = {"user": "root", "port": 22, "dialErrorLimit": 10, "perDialTimeout": 15}

SUPPORTED: dict[str, set[str]] = {
    DOCKER_PROVIDER: {"host", "sshOpts", "version"},
    COMMAND_PROVIDER: {"version"},
    RANDOM_PROVIDER: {"version"},
    IMAGE: {"name", "keepLocally", "pullTriggers"},
    VOLUME: {"name", "driver", "labels"},
    CONTAINER: {
        "name", "image", "command", "entrypoints", "envs", "networkMode", "volumes", "uploads", "labels", "hosts",
        "capabilities", "restart", "maxRetryCount", "healthcheck", "wait", "waitTimeout", "mustRun", "attach",
        "logs", "logDriver", "logOpts", "destroyGraceSeconds", "start", "ulimits", "removeVolumes", "cpuShares",
    },
    REMOTE_COMMAND: {"connection", "create", "update", "delete", "triggers", "logging", "environment", "stdin",
                     "addPreviousOutputInEnv"},
    LOCAL_COMMAND: {"create", "update", "delete", "triggers", "logging", "environment", "stdin",
                    "addPreviousOutputInEnv"},
    RANDOM_PASSWORD: set(_PASSWORD_ARGS),
    RANDOM_BYTES: {"length", "keepers"},
}
# Parts of the connection the executor's ssh can honour.
SUPPORTED_CONNECTION = {"host", "port", "user", "privateKey", "agentSocketPath", "dialErrorLimit", "perDialTimeout"}
