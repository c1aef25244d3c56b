"""The dependency graph of a snapshot, as pkg/resource/graph/dependency_graph.go reads it.

The snapshot list is a topological order (every resource after its dependencies), so
both walks are linear scans of that list.
"""
from __future__ import annotations

from lab.executor.state import ResourceState


class DependencyGraph:
    def __init__(self, resources: list[ResourceState]) -> None:
        self.resources = list(resources)
        self.index = {id(r): i for i, r in enumerate(self.resources)}
        parent_of = {r.urn: r.parent for r in self.resources}
        # Transitive children of each resource, by index.
        self.children: dict[str, list[int]] = {}
        for i, res in enumerate(self.resources):
            parent, seen = res.parent, set()
            while parent and parent not in seen:
                seen.add(parent)
                self.children.setdefault(parent, []).append(i)
                parent = parent_of.get(parent, "")
        self._dependencies: dict[int, list[ResourceState]] = {}

    def depending_on(self, root: ResourceState, ignore: set[str]) -> list[ResourceState]:
        """DependingOn(root, ignore, includeChildren=false): every later resource that
        depends on root directly or through other dependents, by dependsOn, property
        dependency, deletedWith or provider edges (not parent). Ignored URNs are neither
        returned nor walked through. PULUMI-ENGINE.md §3b."""
        found: list[ResourceState] = []
        reached = {root.urn}
        for candidate in self.resources[self.index[id(root)] + 1:]:
            if candidate.urn in ignore:
                continue
            if candidate.all_dependencies() & reached:
                found.append(candidate)
                reached.add(candidate.urn)
        return found

    def dependencies_of(self, res: ResourceState) -> list[ResourceState]:
        """DependenciesOf: the earlier resources `res` depends on (edges as above plus its
        parent), and for a component among them its children listed before `res`."""
        cached = self._dependencies.get(id(res))
        if cached is not None:
            return cached
        wanted = res.all_dependencies()
        if res.parent:
            wanted.add(res.parent)
        cursor = self.index[id(res)]
        out: list[ResourceState] = []
        for i in range(cursor - 1, -1, -1):
            candidate = self.resources[i]
            if candidate.urn in wanted:
                out.append(candidate)
                if not candidate.custom:
                    out += [self.resources[j] for j in self.children.get(candidate.urn, []) if j < cursor]
        self._dependencies[id(res)] = out
        return out


def schedule_deletes(graph: DependencyGraph, condemned: list[ResourceState]) -> list[list[ResourceState]]:
    """ScheduleDeletes: antichains of deletes, each run in parallel, the next only after
    the previous has finished. Built bottom-up (resources with no condemned dependency
    first), then reversed, so dependents go before what they depend on. §3a."""
    remaining = {id(r): r for r in condemned}
    layers: list[list[ResourceState]] = []
    while remaining:
        layer = [r for r in remaining.values()
                 if not any(id(d) in remaining for d in graph.dependencies_of(r))]
        if not layer:
            raise AssertionError("dependency cycle among " + ", ".join(r.urn for r in remaining.values()))
        for res in layer:
            del remaining[id(res)]
        layers.append(sorted(layer, key=lambda r: graph.index[id(r)]))
    layers.reverse()
    return layers
