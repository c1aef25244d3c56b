"""Reading a mocked program run: containers by host, uploads, one-shot steps, the kolla
contract, dependencies."""
from __future__ import annotations

import base64
import io
import json
import tarfile
from typing import Any

from offline.program import ProgramRun, Registration, is_secret_input, resolve, unwrap, urn_name

CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
PROVIDER = "pulumi:providers:docker"
COMMAND = "command:remote:Command"
CONFIG_JSON = "/var/lib/kolla/config_files/config.json"
LOG_OPTS = {"max-size": "50m", "max-file": "5"}


def group(run: ProgramRun, name: str) -> list[str]:
    return list(run.namespace["inventory"].groups.get(name, ()))


def address(run: ProgramRun, host: str) -> str:
    return run.namespace["inventory"].host(host).address


def label(reg: Registration, key: str) -> str | None:
    for item in unwrap(reg.inputs.get("labels") or []):
        if item["label"] == key:
            return item["value"]
    return None


def containers(run: ProgramRun, service: str) -> dict[str, Registration]:
    """The containers named `service` (the Docker name), by the host its label names."""
    found: dict[str, Registration] = {}
    for reg in run.containers():
        if reg.inputs.get("name") == service:
            host = label(reg, "kolla-ha.host")
            assert host not in found, f"two {service} containers on {host}"
            assert reg.name == f"{host}-{service}", reg.name
            found[host] = reg
    return found


def one_shots(run: ProgramRun, step: str) -> dict[str, Registration]:
    """The one-shot step `step` (e.g. keystone_bootstrap), by the host it runs on."""
    inventory = run.namespace["inventory"]
    found: dict[str, Registration] = {}
    for reg in run.of_type(COMMAND):
        host, _, name = reg.name.partition("-")
        if name == step and host in {h.name for h in inventory.hosts}:
            assert unwrap(reg.inputs["connection"])["host"] == inventory.host(host).address
            found[host] = reg
    return found


def step_files(reg: Registration) -> dict[str, str]:
    """The files a one-shot step sends on its stdin (path in the container -> content)."""
    archive = base64.b64decode(unwrap(reg.inputs["stdin"]))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {f"/{m.name}": tar.extractfile(m).read().decode() for m in tar.getmembers()}  # type: ignore[union-attr]


def step_file(reg: Registration, file_name: str) -> str:
    return step_files(reg)[f"/var/lib/kolla/config_files/{file_name}"]


def waits_for(run: ProgramRun, name: str) -> set[str]:
    """Names of every resource `name` waits for, as the SDK told the engine: depends_on
    and the resources its inputs come from."""
    return {urn_name(urn) for urn in run.named(name).dependencies}


def input_sources(reg: Registration) -> dict[str, set[str]]:
    """Per input property, the names of the resources its value comes from."""
    return {key: {urn_name(u) for u in urns} for key, urns in reg.property_dependencies.items() if urns}


def uploads(reg: Registration) -> dict[str, str]:
    return {u["file"]: u["content"] for u in unwrap(reg.inputs["uploads"])}


def upload(reg: Registration, file_name: str) -> str:
    return uploads(reg)[f"/var/lib/kolla/config_files/{file_name}"]


def haproxy_cfg(run: Any, host: str) -> str:
    """haproxy.cfg as the program hands it to the host (stdin of <host>-haproxy-config)."""
    return unwrap(run.named(f"{host}-haproxy-config").inputs["stdin"])


def config_json(reg: Registration) -> dict[str, Any]:
    return json.loads(uploads(reg)[CONFIG_JSON])


def provider_ref(run: ProgramRun, host: str) -> str:
    """The provider reference a resource on `host` must carry: that host's provider."""
    provider = run.namespace["plane"].hosts[host].provider
    return f"{resolve(provider.urn)}::{resolve(provider.id)}"


def image_id(run: ProgramRun, host: str, image: str) -> str:
    node = run.namespace["plane"].hosts[host]
    assert image in node._image_cache, f"no RemoteImage {image} on {host}"  # pylint: disable=protected-access
    return resolve(node._image_cache[image].image_id)  # pylint: disable=protected-access


def passwords(run: ProgramRun) -> set[str]:
    """Every secret value of the stack: the operator's and the generated ones."""
    store = run.namespace["plane"].passwords
    values = {resolve(v) for v in [*store._given.values(), *store._made.values()]}  # pylint: disable=protected-access
    assert all(isinstance(v, str) and len(v) >= 8 for v in values)
    return values


def plain_text(value: Any) -> str:
    """The JSON of an input with every secret part left out."""
    def strip(v: Any) -> Any:
        if is_secret_input(v):
            return None
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return json.dumps(strip(value), default=str)


def assert_kolla_container(run: ProgramRun, reg: Registration, host: str, image: str) -> None:
    """The kolla contract, for one long-running container on one host."""
    inputs = reg.inputs
    assert reg.provider == provider_ref(run, host), f"{reg.name}: provider of another host"
    assert reg.options is not None and reg.options.provider is run.namespace["plane"].hosts[host].provider
    assert inputs["image"] == image_id(run, host, image), f"{reg.name}: image is not {host}'s {image} imageId"
    assert inputs["networkMode"] == "host"
    assert "KOLLA_CONFIG_STRATEGY=COPY_ALWAYS" in unwrap(inputs["envs"])
    assert f"KOLLA_SERVICE_NAME={inputs['name']}" in unwrap(inputs["envs"])
    assert inputs["logOpts"] == LOG_OPTS and inputs["logDriver"] == "json-file"
    assert label(reg, "kolla-ha.service") == inputs["name"]
    cfg = config_json(reg)
    assert set(cfg) == {"command", "config_files", "permissions"}
    assert isinstance(cfg["command"], str) and cfg["command"]
    files = uploads(reg)
    host_dirs = {v["containerPath"]: v for v in unwrap(inputs.get("volumes") or []) if v.get("hostPath")}
    for item in cfg["config_files"]:
        if item["source"] in files:
            continue
        # otherwise it comes from a host folder mounted read-only (HAProxy's reloadable config)
        mount = next((m for path, m in host_dirs.items() if item["source"].startswith(path + "/")), None)
        assert mount is not None and mount.get("readOnly"), (
            f"{reg.name}: {item['source']} is neither uploaded nor on a read-only host folder")
        assert set(item) == {"source", "dest", "owner", "perm"}
    assert all(u["permissions"] == "0600" for u in unwrap(inputs["uploads"]))
    hc = inputs.get("healthcheck")
    assert hc and hc["tests"][0] == "CMD-SHELL" and hc["tests"][1], f"{reg.name}: no healthcheck"
    assert inputs["wait"] is True
    assert inputs["restart"] == "unless-stopped" and inputs["mustRun"] is True
    opts = reg.options
    assert opts.delete_before_replace is True, f"{reg.name}: fixed name without delete_before_replace"
    assert "healthcheck" in (opts.replace_on_changes or [])
    assert opts.parent is not None
    # Named volumes by their name, the volume resource in depends_on only.
    for volume in unwrap(inputs.get("volumes") or []):
        if volume.get("volumeName"):
            assert f"{host}-volume-{volume['volumeName']}" in reg.depends_on()
    assert "volumes" not in input_sources(reg)


def assert_one_shot(run: ProgramRun, reg: Registration, host: str, image: str) -> None:
    """The one-shot contract: the image run to completion on its host with the docker CLI,
    its config on stdin as a secret, nothing that would replace it instead of re-running it."""
    inputs = reg.inputs
    assert reg.type == COMMAND
    name = reg.name.split("-", 1)[1]
    script = inputs["create"]
    assert f"name={name}" in script and image_id(run, host, image) in script
    assert 'base64 -d | docker cp - "$name:/"' in script
    assert 'rc=$(timeout' in script and 'exit "$rc"' in script
    # Re-run on a change (update runs create), never replaced, nothing left to delete.
    assert not inputs.get("update") and not inputs.get("triggers") and not inputs.get("delete")
    assert is_secret_input(inputs["stdin"])
    assert inputs["logging"] == "none"
    assert not inputs.get("environment")
    assert reg.options is not None and {"stdout", "stderr"} <= set(reg.options.additional_secret_outputs or [])
    # (pulumi-command's SDK adds replace_on_changes=["triggers[*]"]; there are no triggers)
    assert not reg.options.delete_before_replace and reg.options.replace_on_changes == ["triggers[*]"]
    files = step_files(reg)
    cfg = json.loads(files["/var/lib/kolla/config_files/config.json"])
    for item in cfg["config_files"]:
        assert item["source"] in files, f"{reg.name}: {item['source']} is not sent"
    assert all(path.startswith("/var/lib/kolla/config_files/") for path in files)


def assert_rolling_chain(run: ProgramRun, service: str, hosts: list[str], via: str | None = None) -> None:
    """Each container of `service` waits for the one on the previous host, in group order;
    with `via`, for the previous host's `<host>-<service>-<via>` resource, which itself
    waits for that host's container. Nothing of the tier waits for a later host."""
    by_host = containers(run, service)
    assert list(by_host) and sorted(by_host) == sorted(hosts)
    for prev, host in zip(hosts, hosts[1:]):
        link = f"{prev}-{service}" if via is None else f"{prev}-{service}-{via}"
        assert link in by_host[host].depends_on(), f"{host}-{service} does not wait for {link}"
        if via is not None:
            assert f"{prev}-{service}" in waits_for(run, link), f"{link} does not wait for {prev}-{service}"
    for i, host in enumerate(hosts):
        later = {f"{h}-{service}" for h in hosts[i:]} | {f"{h}-{service}-{via}" for h in hosts[i:]}
        assert not later & waits_for(run, f"{host}-{service}")


def inputs_by_name(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {r.name: unwrap(r.inputs) for r in run.containers()}


def changed_containers(before: ProgramRun, after: ProgramRun) -> set[str]:
    """Containers present in both runs whose inputs differ (each one a replacement)."""
    a, b = inputs_by_name(before), inputs_by_name(after)
    return {name for name in a.keys() & b.keys() if a[name] != b[name]}
