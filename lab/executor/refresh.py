"""`pulumi refresh`: read every resource back from where it lives; drop what is gone.

Each provider's Read decides (providers.py): a container is read by its id (gone when
the daemon has none; stopped: exit code, and must_run written back as false as
kreuzwerker's Read does), an image and a volume by name, while pulumi-command and
pulumi-random have no Read of their own and keep their state as it is (go-provider
infer's default Read). Resources found gone leave the state, and references to them
are dropped as FilterRefreshDeletes does. Needed after the hosts were re-created
(`python3 -m lab down` + `up`): the state would otherwise list containers that no
longer exist and an `up` would plan them as unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.executor.actions import Actions
from lab.executor.daemons import DaemonPool
from lab.progress import Progress
from lab.executor.providers import Providers
from lab.executor.state import ResourceState, Snapshot, without
from lab.executor.values import plain


@dataclass
class RefreshReport:
    deleted: list[str] = field(default_factory=list)
    updated: list[tuple[str, list[str]]] = field(default_factory=list)
    unchanged: int = 0


def refresh(state_path: Path, actions: Actions | None = None,
            log: Callable[[str], None] | None = None) -> RefreshReport:
    snapshot = Snapshot.load(state_path)
    progress = Progress(sink=log)
    owned = actions is None
    actions = actions if actions is not None else Actions(DaemonPool())

    def provider_state(ref: str) -> ResourceState | None:
        urn, _, pid = ref.rpartition("::")
        return next((r for r in snapshot.base if r.urn == urn and r.id == pid), None)

    providers = Providers(actions, provider_state)
    report = RefreshReport()
    gone: set[int] = set()
    refreshed: list[ResourceState] = []
    try:
        for res in snapshot.base:
            seen = providers.read(res)
            if seen is None:
                gone.add(id(res))
                report.deleted.append(res.urn)
                progress.line(f"refresh: {res.name} ({res.type}) is gone: removed from the state")
                refreshed.append(res)
                continue
            changed = sorted(k for k in set(seen.outputs) | set(res.outputs)
                             if plain(seen.outputs.get(k)) != plain(res.outputs.get(k)))
            if changed:
                report.updated.append((res.urn, changed))
                progress.line(f"refresh: {res.name} ({res.type}) changed: {', '.join(changed)}")
            else:
                report.unchanged += 1
            refreshed.append(seen)
    finally:
        if owned:
            actions.close()
    snapshot.replace_all(without(refreshed, gone))
    progress.line(f"refresh: {len(report.deleted)} gone, {len(report.updated)} changed, "
                  f"{report.unchanged} unchanged")
    return report
