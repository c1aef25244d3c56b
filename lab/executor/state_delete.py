"""`pulumi state delete`: forget resources without touching them (state surgery).

As the CLI: a resource others depend on (dependsOn, property dependency, parent,
deletedWith, provider) is not deleted unless `target_dependents` deletes those too.

`forget_host` is the lab's side of the "replace a dead host" runbook: what
`ops.forget_host` does to a `pulumi stack export` document (the same selection of the
host's resources), done to the executor's state: they are forgotten, and the
survivors' references to them are dropped, which is what a `pulumi refresh` would do if
the dead host could still answer "gone".
"""
from __future__ import annotations

from pathlib import Path

from lab.executor.state import ResourceState, Snapshot, without
from lab.executor.values import plain
from ops.forget_host import host_urns
from ops.forget_host import without as forget_without  # by URN; state.without is by identity


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


def forget_host(state_path: Path, address: str) -> list[str]:
    """ops.forget_host's surgery, on the executor's state (its JSON form is ResourceV3)."""
    snapshot = Snapshot.load(state_path)
    docs = [r.to_json() for r in snapshot.base]
    doomed = host_urns([{**d, "inputs": plain(d.get("inputs") or {})} for d in docs], address)
    if not doomed:
        raise StateDeleteRefused(f"no resource of the state lives on {address}")
    snapshot.replace_all([ResourceState.from_json(d) for d in forget_without(docs, doomed)])
    return sorted(doomed)
