"""`pulumi state delete`: forget resources without touching them (state surgery).

As the CLI: a resource others depend on (dependsOn, property dependency, parent,
deletedWith, provider) is not deleted unless `target_dependents` deletes those too.

`forget_host` is the lab's convenience for the "replace a dead host" runbook: every
resource that lives on that host (its docker provider and everything managed through
it, the commands whose SSH connection goes to it, and then components left without
children) is forgotten, and the survivors' references to them are dropped, which is
what a `pulumi refresh` would do if the dead host could still answer "gone".
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from lab.executor import schemas
from lab.executor.state import ResourceState, Snapshot, without
from lab.executor.values import plain


class StateDeleteRefused(Exception):
    pass


def _dependents(resources: list[ResourceState], urns: set[str]) -> set[str]:
    found: set[str] = set()
    for res in resources:
        if res.urn in urns:
            continue
        refs = res.all_dependencies() | ({res.parent} if res.parent else set())
        if refs & urns:
            found.add(res.urn)
    return found


def state_delete(state_path: Path, urns: list[str], target_dependents: bool = False) -> list[str]:
    snapshot = Snapshot.load(state_path)
    resources = snapshot.base
    present = {r.urn for r in resources}
    missing = [u for u in urns if u not in present]
    if missing:
        raise StateDeleteRefused(f"no such resource in the state: {', '.join(missing)}")
    doomed = set(urns)
    while True:
        dependents = _dependents(resources, doomed)
        if not dependents:
            break
        if not target_dependents:
            raise StateDeleteRefused(
                f"{', '.join(sorted(urns))} can't be safely deleted because these resources depend on it: "
                f"{', '.join(sorted(dependents))} (pass --target-dependents to delete them too)")
        doomed |= dependents
    snapshot.replace_all(without(resources, {id(r) for r in resources if r.urn in doomed}))
    return sorted(doomed)


def host_resources(resources: list[ResourceState], address: str) -> set[str]:
    """URNs of what lives on the host at `address`."""
    providers = {r.urn for r in resources if r.type == schemas.DOCKER_PROVIDER
                 and urlparse(str(plain(r.inputs.get("host")))).hostname == address}
    doomed = set(providers)
    for res in resources:
        if res.provider and res.provider_urn() in providers:
            doomed.add(res.urn)
        connection = plain(res.inputs.get("connection"))
        if res.type in schemas.COMMANDS and isinstance(connection, dict) and connection.get("host") == address:
            doomed.add(res.urn)
    # Components whose every child is going: the host's own component(s).
    changed = True
    while changed:
        changed = False
        for res in resources:
            if res.custom or res.urn in doomed:
                continue
            children = [r.urn for r in resources if r.parent == res.urn]
            if children and all(c in doomed for c in children):
                doomed.add(res.urn)
                changed = True
    return doomed


def forget_host(state_path: Path, address: str) -> list[str]:
    snapshot = Snapshot.load(state_path)
    doomed = host_resources(snapshot.base, address)
    if not doomed:
        raise StateDeleteRefused(f"no resource of the state lives on {address}")
    snapshot.replace_all(without(snapshot.base, {id(r) for r in snapshot.base if r.urn in doomed}))
    return sorted(doomed)
