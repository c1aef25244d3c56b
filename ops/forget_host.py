"""Forget a dead host in a Pulumi stack's state: the state surgery of the "replace a dead
node" runbook.

    umask 077   # both files hold the stack's secrets in the clear
    pulumi stack export --stack prod --show-secrets --file state.json
    python3 -m ops.forget_host --address 10.0.0.14 state.json --out forgotten.json
    pulumi stack import --stack prod --file forgotten.json
    shred -u state.json forgotten.json

A dead host's daemon and sshd are gone, so `pulumi up` cannot delete what ran there, and
`pulumi refresh` cannot ask. `pulumi state delete` alone does not do either: the last
member of each rolling chain is its tier's `ready`, which the other tiers' first members
depend on, so it refuses, and with `--target-dependents` it would also forget those
survivors (the next `up` would then create containers whose names are taken). This
removes what lives on the host — its `docker.Provider`, everything created through it,
the commands whose SSH connection goes to its address, and components left without
children — and drops the survivors' references to them (dependencies, property
dependencies, deleted-with, parents re-pointed to the nearest surviving ancestor), as a
refresh does for resources it finds gone. Nothing on any host is touched. The lab's
executor applies the same selection to its own state
(`python3 -m lab.executor state delete --stack dev --host <name>`).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from typing import Any, Iterable, Mapping
from urllib.parse import urlparse

DOCKER_PROVIDER = "pulumi:providers:docker"
COMMAND_TYPES = ("command:remote:Command",)
# How Pulumi marks a secret value in a state document (`sig` key and value).
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


class ForgetRefused(Exception):
    pass


def _plain(value: Any) -> Any:
    """A state value with the secret envelope of `--show-secrets` opened."""
    if isinstance(value, Mapping) and value.get(SECRET_SIG[0]) == SECRET_SIG[1]:
        if "plaintext" not in value:
            raise ForgetRefused("the state's secrets are encrypted: export it with --show-secrets")
        return json.loads(value["plaintext"])
    return value


def _provider_urn(reference: str) -> str:
    """A provider reference is `<provider urn>::<provider id>`."""
    return reference.rsplit("::", 1)[0] if reference else ""


def host_urns(resources: Iterable[Mapping[str, Any]], address: str) -> set[str]:
    """URNs of what lives on the host at `address` (ResourceV3 dicts, inputs in the clear)."""
    resources = list(resources)
    providers = {r["urn"] for r in resources if r.get("type") == DOCKER_PROVIDER
                 and urlparse(str(_plain((r.get("inputs") or {}).get("host")))).hostname == address}
    doomed = set(providers)
    for res in resources:
        if _provider_urn(res.get("provider") or "") in providers:
            doomed.add(res["urn"])
        connection = _plain((res.get("inputs") or {}).get("connection"))
        if res.get("type") in COMMAND_TYPES and isinstance(connection, Mapping) \
                and _plain(connection.get("host")) == address:
            doomed.add(res["urn"])
    # Components whose every child is going: the host's own component(s).
    changed = True
    while changed:
        changed = False
        for res in resources:
            if res.get("custom") or res["urn"] in doomed:
                continue
            children = [r["urn"] for r in resources if r.get("parent") == res["urn"]]
            if children and all(c in doomed for c in children):
                doomed.add(res["urn"])
                changed = True
    return doomed


def without(resources: Iterable[Mapping[str, Any]], doomed: set[str]) -> list[dict[str, Any]]:
    """The resources (in their topological order) without `doomed`, and with every
    reference to a doomed URN dropped."""
    resolved_parent: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for res in resources:
        parent = res.get("parent") or ""
        parent = resolved_parent.get(parent, parent) if parent in doomed else parent
        resolved_parent[res["urn"]] = parent
        if res["urn"] in doomed:
            continue
        fixed = dict(res)
        if "parent" in fixed or parent:
            fixed["parent"] = parent
        if "dependencies" in res:
            fixed["dependencies"] = [u for u in res["dependencies"] if u not in doomed]
        if "propertyDependencies" in res:
            fixed["propertyDependencies"] = {k: [u for u in v if u not in doomed]
                                             for k, v in res["propertyDependencies"].items()}
        if res.get("deletedWith") in doomed:
            del fixed["deletedWith"]
        out.append(fixed)
    return out


def forget(document: dict[str, Any], address: str) -> tuple[dict[str, Any], list[str]]:
    """A `pulumi stack export` document without the host at `address`; the URNs dropped."""
    deployment = document.get("deployment")
    if not isinstance(deployment, dict) or not isinstance(deployment.get("resources"), list):
        raise ForgetRefused("not a `pulumi stack export` document (no deployment.resources)")
    if deployment.get("pending_operations"):
        raise ForgetRefused("the state has pending operations: finish or cancel that `pulumi up` first")
    doomed = host_urns(deployment["resources"], address)
    if not doomed:
        raise ForgetRefused(f"no resource of the state lives on {address}")
    out = dict(document)
    out["deployment"] = {**deployment, "resources": without(deployment["resources"], doomed)}
    return out, sorted(doomed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m ops.forget_host", description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True, help="the dead host's address, as in the stack's `hosts`")
    parser.add_argument("export", help="the `pulumi stack export --show-secrets` file")
    parser.add_argument("--out", required=True, help="where to write the document to import (created 0600)")
    args = parser.parse_args(argv)
    try:
        address = str(ipaddress.ip_address(args.address))
    except ValueError:
        parser.error(f"--address {args.address!r} is not an IP address")
    try:
        with open(args.export, encoding="utf-8") as fh:
            document = json.load(fh)
        out, dropped = forget(document, address)
        # O_EXCL: never write the secrets into a file someone else already opened.
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")
    except (OSError, json.JSONDecodeError, ForgetRefused) as err:
        print(f"forget_host: {err}", file=sys.stderr)
        return 1
    for urn in dropped:
        print(f"forgotten: {urn}", file=sys.stderr)
    print(f"{len(dropped)} resource(s) left out; nothing on any host was touched", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
