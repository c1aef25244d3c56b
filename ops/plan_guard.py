"""Refuse a plan that would take a tier down: read a `pulumi preview --json` document,
play its steps in order, and check every tier after every step.

    pulumi preview --stack prod --json --show-replacement-steps > plan.json
    python3 -m ops.plan_guard --stack-file Pulumi.prod.yaml < plan.json && pulumi up --stack prod

(the lab's offline executor writes the same document:
`python3 -m lab.executor preview --stack dev --json --show-replacement-steps`).

The steps of a preview document come in execution order (PULUMI-ENGINE.md §4); with
`--show-replacement-steps` a delete-before-replace appears as its `delete-replaced`
steps (every pre-deleted dependent first, then the resource), `replace`, then
`create-replacement`; a create-before-delete as `create-replacement`, `replace`, and
its `delete-replaced` among the deletes at the end (§3a). Without those steps a
`replace` does not say when the old one goes, so such a document is rejected.

A tier member is a container on one host of the tier's inventory group, recognised by
its container name (`mariadb`, `rabbitmq`, `memcached`, `haproxy` + `keepalived`, the
API services' `<service>` containers; with the storage tier Ceph's `ceph_mon`, `ceph_mgr`
and OSDs, cinder-scheduler, and a storage host's fourteen Swift daemons as one member),
its host by the `<host>-` prefix of the resource name. An API replica is also out of service while its `<host>-<service>-lb-member`
command is deleted (that delete drains it in every HAProxy) and until that command is
created again. A member is down from its delete until its (re-)create, which completes
only once the container is healthy (`wait`).

The guard takes the document's order as the execution order, as Pulumi prints it.
Independent chains may interleave differently in the real `up`; what keeps members of
a tier apart there is the depends_on chain the program declares between them, which
every valid order respects.

Refused, with the tier, the hosts and the step:
- more than one member of a tier down at the same time;
- Galera, RabbitMQ or Ceph's monitors below quorum (a majority of its members up);
- the HAProxy container of a load balancer replaced (the program reloads it in place;
  replacing it drops the VIP on its holder);
- a member still down or drained when the plan ends, on a host still in its group;
- a change of RabbitMQ's queue type (the brokers' `kolla-ha.rabbitmq-queue-type` label):
  the services cannot declare the new type while queues of the old one exist.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, TextIO

import yaml  # type: ignore[import-untyped]

from components.catalog import CATALOG, DEFAULT_ENABLED
from components.ceph_config import osds
from components.defaults import TIER_DEFAULTS
from components.swift_storage import STORAGE_DAEMONS

CONTAINER_TYPE = "docker:index/container:Container"
# The program labels each RabbitMQ container with the cluster's queue type.
QUEUE_TYPE_LABEL = "kolla-ha.rabbitmq-queue-type"
COMMAND_TYPE = "command:remote:Command"
LB_MEMBER_SUFFIX = "-lb-member"
DELETES = {"delete", "delete-replaced"}
CREATES = {"create", "create-replacement"}


class PlanUnreadable(Exception):
    pass


@dataclass(frozen=True)
class Tier:
    """A set of interchangeable members, one per host of an inventory group."""

    name: str
    group: str
    containers: tuple[str, ...]
    quorum: bool = False
    drained_by_lb_member: bool = False
    what: str = "members"


def tiers_for(enabled_services: Iterable[str], osd_containers: Sequence[str] = ("ceph_osd",)) -> list[Tier]:
    enabled = list(enabled_services)
    tiers = [
        # A Galera node is out of HAProxy's rotation when its clustercheck is down too.
        Tier("galera", "database", ("mariadb", "mariadb_clustercheck"), quorum=True, what="Galera nodes"),
        Tier("rabbitmq", "messaging", ("rabbitmq",), quorum=True, what="RabbitMQ nodes"),
        Tier("loadbalancer", "loadbalancer", ("haproxy", "keepalived"), what="load balancers"),
        Tier("memcached", "memcached", ("memcached",), what="memcached servers"),
    ]
    for service in enabled:
        spec = CATALOG[service]
        tiers.append(Tier(spec.name, spec.group, (spec.container,), drained_by_lb_member=True,
                          what=f"{spec.name} replicas"))
    if "swift-proxy-server" in enabled:
        # A storage host's daemons are one member: any of them down takes that host's
        # replicas (or their replication) away.
        tiers.append(Tier("swift-storage", "storage", tuple(d.container for d in STORAGE_DAEMONS),
                          what="Swift storage hosts"))
    if "cinder-api" in enabled:
        tiers += [
            Tier("ceph-mon", "database", ("ceph_mon",), quorum=True, what="Ceph monitors"),
            Tier("ceph-mgr", "database", ("ceph_mgr",), what="Ceph managers"),
            Tier("ceph-osd", "storage", tuple(osd_containers), what="Ceph OSD hosts"),
            Tier("cinder-scheduler", "control", ("cinder_scheduler",), what="cinder-scheduler replicas"),
        ]
    return tiers


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[str, ...]
    groups: Mapping[str, tuple[str, ...]]
    enabled_services: tuple[str, ...]
    # Each storage host's OSD containers (one per `ceph.osd_devices` entry).
    osd_containers: tuple[str, ...] = ("ceph_osd",)


def read_stack_file(path: Path) -> Inventory:
    """Hosts, groups and enabled services from Pulumi.<stack>.yaml (nothing else is needed)."""
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    hosts = tuple(str(h["name"]) for h in config.get("kolla-ha:hosts") or [])
    groups = {str(g): tuple(str(h) for h in members or ())
              for g, members in (config.get("kolla-ha:groups") or {}).items()}
    services = tuple(config.get("kolla-ha:enabled_services") or DEFAULT_ENABLED)
    unknown = [s for s in services if s not in CATALOG]
    if unknown:
        raise PlanUnreadable(f"{path}: enabled_services names unknown service(s) {', '.join(unknown)}")
    ceph = {**TIER_DEFAULTS["ceph"], **(config.get("kolla-ha:ceph") or {})}
    return Inventory(hosts, groups, services, tuple(o.container for o in osds(ceph)))


@dataclass
class Member:
    tier: Tier
    host: str
    existed: bool
    containers_down: set[str] = field(default_factory=set)
    drained: bool = False
    removed: bool = False  # deleted for good (not a replacement)

    @property
    def down(self) -> bool:
        return bool(self.containers_down) or self.drained


@dataclass
class Violation:
    rule: str
    tier: str
    step: int
    message: str


@dataclass
class Outage:
    """More than one member of a tier down: where it starts, and its worst moment."""

    tier: Tier
    first_index: int
    first_step: Mapping[str, Any]
    advice: str
    hosts: list[str] = field(default_factory=list)
    members: int = 0
    worst_index: int = 0
    worst_step: Mapping[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        tier = self.tier
        if len(self.hosts) == self.members:
            extent = f"all {self.members} {tier.what} down at once ({', '.join(self.hosts)}): a full outage of {tier.name}"
        else:
            extent = f"{len(self.hosts)} of {self.members} {tier.what} down at once ({', '.join(self.hosts)})"
        worst = "" if self.worst_index == self.first_index else f", at worst by {_at(self.worst_index, self.worst_step)}"
        return f"{tier.name}: {extent}, from {_at(self.first_index, self.first_step)}{worst}. {self.advice}"


def _at(index: int, step: Mapping[str, Any]) -> str:
    return f"step {index} ({step.get('op')} {step.get('urn')})"


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _state(step: Mapping[str, Any]) -> Mapping[str, Any]:
    return step.get("newState") or step.get("oldState") or {}


def _label(state: Mapping[str, Any], name: str) -> str | None:
    for label in (state.get("inputs") or {}).get("labels") or []:
        if label.get("label") == name:
            return label.get("value")
    return None


def _container_name(step: Mapping[str, Any]) -> str | None:
    for key in ("newState", "oldState"):
        inputs = (step.get(key) or {}).get("inputs") or {}
        name = inputs.get("name")
        if isinstance(name, str) and name != "[secret]":
            return name
    return None


class PlanGuard:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.tiers = tiers_for(inventory.enabled_services, inventory.osd_containers)
        self.by_container = {c: t for t in self.tiers for c in t.containers}
        self.by_lb_member = {t.containers[0]: t for t in self.tiers if t.drained_by_lb_member}
        self.members: dict[tuple[str, str], Member] = {}
        self.violations: list[Violation] = []
        self.outages: dict[str, Outage] = {}
        self.most_down: dict[str, int] = {t.name: 0 for t in self.tiers}

    # -- mapping resources to tier members -----------------------------------------------
    def _host_of(self, resource_name: str) -> tuple[str, str] | None:
        """(host, rest) for a resource named `<host>-<rest>`, longest host name first."""
        for host in sorted(set(self.inventory.hosts) | {h for g in self.inventory.groups.values() for h in g},
                           key=len, reverse=True):
            if resource_name.startswith(host + "-"):
                return host, resource_name[len(host) + 1:]
        return None

    def _target(self, step: Mapping[str, Any]) -> tuple[Tier, str, str] | None:
        """(tier, host, part) a step acts on: part is a container name or "lb-member"."""
        urn = step.get("urn", "")
        typ = _state(step).get("type", "")
        split = self._host_of(_name(urn))
        if split is None:
            return None
        host, rest = split
        if typ == CONTAINER_TYPE:
            container = _container_name(step) or rest
            tier = self.by_container.get(container)
            return (tier, host, container) if tier is not None else None
        if typ == COMMAND_TYPE and rest.endswith(LB_MEMBER_SUFFIX):
            tier = self.by_lb_member.get(rest[: -len(LB_MEMBER_SUFFIX)])
            return (tier, host, "lb-member") if tier is not None else None
        return None

    def _member(self, tier: Tier, host: str, existed: bool) -> Member:
        key = (tier.name, host)
        if key not in self.members:
            self.members[key] = Member(tier, host, existed)
        return self.members[key]

    def _group(self, tier: Tier) -> tuple[str, ...]:
        return self.inventory.groups.get(tier.group, ())

    # -- playing the plan ----------------------------------------------------------------
    def check(self, document: Mapping[str, Any]) -> list[Violation]:
        steps = list(document.get("steps") or [])
        ops = {s.get("op") for s in steps}
        if "replace" in ops and not ops & {"create-replacement", "delete-replaced"}:
            raise PlanUnreadable(
                "the document has `replace` steps but no replacement steps, so the order of deletes and "
                "creates is unknown: run the preview with --show-replacement-steps")
        self._seed(steps)
        for index, step in enumerate(steps):
            target = self._target(step)
            if target is None:
                continue
            tier, host, part = target
            op = step.get("op")
            member = self._member(tier, host, existed=bool(step.get("oldState")))
            if tier.name == "loadbalancer" and part == "haproxy" and op in ("delete-replaced", "create-replacement") \
                    and not any(v.rule == "haproxy-replaced" and v.tier == host for v in self.violations):
                self.violations.append(Violation(
                    "haproxy-replaced", host, index,
                    f"HAProxy on {host} is replaced ({op} at step {index}: {step.get('urn')}; replaced because of "
                    f"{', '.join(step.get('replaceReasons') or []) or 'a dependency'}). Its container must stay: "
                    "a replacement stops HAProxy and drops the VIP on the host holding it. Keep configuration out "
                    "of the haproxy container's inputs and let the program's config command reload it in place."))
            if tier.name == "rabbitmq":
                self._queue_type_change(host, index, step)
            self._apply(member, part, op)
            self._evaluate(tier, index, step, steps)
        self._at_end(len(steps))
        for outage in self.outages.values():
            self.violations.append(Violation("several-down", outage.tier.name, outage.first_index, outage.message()))
        return sorted(self.violations, key=lambda v: (v.step, v.tier))

    def _queue_type_change(self, host: str, index: int, step: Mapping[str, Any]) -> None:
        """A queue type switch cannot roll: the services' new config declares its queues and
        exchanges with other arguments than the ones the running cloud holds, and RabbitMQ
        refuses such a declaration (406 PRECONDITION_FAILED), so every service fails to start
        until the old queues are gone. Found in the lab: cinder-scheduler crash-looped."""
        before, after = (_label(step.get(k) or {}, QUEUE_TYPE_LABEL) for k in ("oldState", "newState"))
        if before is None or after is None or before == after:
            return
        if any(v.rule == "queue-type-change" for v in self.violations):
            return
        self.violations.append(Violation(
            "queue-type-change", "rabbitmq", index,
            f"rabbitmq.queue_type changes from {before} to {after} ({_at(index, step)}, {host}). The OpenStack "
            "services would declare their queues anew with the other type while the old ones exist; RabbitMQ "
            "refuses that (406 PRECONDITION_FAILED) and the services stop working. It is not a rolling change: "
            f"keep queue_type: {before}, or migrate as README's 'Changing the queue type' says."))

    def _seed(self, steps: Sequence[Mapping[str, Any]]) -> None:
        """Members that exist before the plan: every host of the tier's group whose member is
        not created by the plan, and every member the plan has an old state for."""
        fresh: set[tuple[str, str]] = set()
        for step in steps:
            target = self._target(step)
            if target is None:
                continue
            tier, host, part = target
            if part != "lb-member" and step.get("op") == "create" and not step.get("oldState"):
                fresh.add((tier.name, host))
            if step.get("oldState"):
                self._member(tier, host, existed=True)
        for tier in self.tiers:
            for host in self._group(tier):
                if (tier.name, host) not in fresh:
                    self._member(tier, host, existed=True)

    @staticmethod
    def _apply(member: Member, part: str, op: str | None) -> None:
        if op in DELETES:
            if part == "lb-member":
                member.drained = True
            else:
                member.containers_down.add(part)
                if op == "delete":
                    member.removed = True
        elif op in CREATES:
            if part == "lb-member":
                member.drained = False
            else:
                member.containers_down.discard(part)
                member.removed = False
                member.existed = True

    def _evaluate(self, tier: Tier, index: int, step: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> None:
        members = [m for m in self.members.values() if m.tier is tier and m.existed]
        down = sorted(m.host for m in members if m.down)
        self.most_down[tier.name] = max(self.most_down[tier.name], len(down))
        if len(down) > 1:
            outage = self.outages.get(tier.name)
            if outage is None:
                outage = self.outages[tier.name] = Outage(tier, index, step, self._advice(index, steps))
            if len(down) > len(outage.hosts):
                outage.hosts, outage.members, outage.worst_index, outage.worst_step = down, len(members), index, step
        if tier.quorum and members:
            up = [m for m in members if not m.down]
            needed = len(members) // 2 + 1
            if len(up) < needed and not any(v.rule == "quorum" and v.tier == tier.name for v in self.violations):
                self.violations.append(Violation(
                    "quorum", tier.name, index,
                    f"{tier.name}: quorum lost, {len(up)} of {len(members)} {tier.what} up (a majority, {needed}, "
                    f"is needed) {_at(index, step)}; down: {', '.join(down)}. Replace one node at a time, each "
                    "after the previous one is back and synced."))

    def _advice(self, index: int, steps: Sequence[Mapping[str, Any]]) -> str:
        step = steps[index]
        cause = self._chain_cause(index, steps)
        if cause:
            return (f"They are deleted as dependents of the delete-before-replace of {cause}: their inputs take "
                    "its outputs (a property dependency), so the engine deletes every one of them before it. "
                    "Take that output out of the members' inputs (order them with depends_on instead).")
        created_before = any(s.get("op") == "create-replacement" and s.get("urn") == step.get("urn")
                             for s in steps[:index])
        if step.get("op") == "delete-replaced" and created_before:
            return ("These are the old halves of create-before-delete replacements: their deletes all run in the "
                    "delete phase after every create, in parallel. Make that resource delete_before_replace, or "
                    "keep it from being replaced.")
        return ("Chain the members with depends_on so that each is replaced only after the previous one is "
                "healthy again.")

    @staticmethod
    def _chain_cause(index: int, steps: Sequence[Mapping[str, Any]]) -> str | None:
        """For the delete-replaced step of a dependent, the resource whose delete-before-replace
        chain deletes it: a resource replaced later in the plan that it depends on, directly or
        through other resources (the old states' dependencies). Chains of independent
        resources interleave in a plan, so adjacency alone does not tell."""
        step = steps[index]
        if step.get("op") != "delete-replaced":
            return None
        depends: dict[str, set[str]] = {}
        for other in steps:
            old = other.get("oldState") or {}
            refs = set(old.get("dependencies") or [])
            for urns in (old.get("propertyDependencies") or {}).values():
                refs.update(urns)
            depends.setdefault(str(other.get("urn")), set()).update(refs)

        def reaches(start: str, goal: str) -> bool:
            seen, todo = set(), [start]
            while todo:
                urn = todo.pop()
                if urn == goal:
                    return True
                if urn not in seen:
                    seen.add(urn)
                    todo.extend(depends.get(urn, ()))
            return False

        urn = str(step.get("urn"))
        deleted_since = set()
        for later in steps[index:]:
            if later.get("op") == "delete-replaced":
                deleted_since.add(later.get("urn"))
            elif later.get("op") == "replace" and later.get("urn") in deleted_since:
                root = str(later.get("urn"))
                if root == urn:
                    return None
                if reaches(urn, root):
                    return root
        return None

    def _at_end(self, count: int) -> None:
        left: dict[tuple[str, bool], list[str]] = {}
        for member in self.members.values():
            if not member.existed or not member.down:
                continue
            if member.removed and member.host not in self._group(member.tier):
                continue  # scaled in: the member leaves the tier
            left.setdefault((member.tier.name, bool(member.containers_down)), []).append(member.host)
        for (tier, stopped), hosts in sorted(left.items()):
            where = f"on {', '.join(sorted(hosts))}"
            if stopped:
                what = (f"the {tier} members {where} are still stopped when the plan ends (deleted and not created "
                        "again) although their hosts are still in the tier's group")
            else:
                what = (f"the {tier} members {where} are still drained in HAProxy when the plan ends: their "
                        "lb-member command is deleted after it was last created. A create-before-delete "
                        "replacement of that command runs the old `delete` (drain) in the delete phase, after the "
                        "new `create` (ready), so the replicas stay out of rotation")
            self.violations.append(Violation("left-down", tier, count, f"{tier}: {what}."))

    def summary(self, steps: int) -> str:
        worst = ", ".join(f"{name} {n}" for name, n in self.most_down.items())
        return f"plan_guard: safe: {steps} steps, at most one member down per tier ({worst}); no HAProxy replaced"


def check_document(document: Mapping[str, Any], inventory: Inventory) -> tuple[list[Violation], str]:
    guard = PlanGuard(inventory)
    violations = guard.check(document)
    return violations, guard.summary(len(document.get("steps") or []))


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m ops.plan_guard", description=__doc__.splitlines()[0])
    parser.add_argument("--stack-file", required=True, type=Path, help="Pulumi.<stack>.yaml (hosts, groups)")
    parser.add_argument("plan", nargs="?", type=Path, help="the preview document (default: standard input)")
    args = parser.parse_args(argv)
    try:
        text = args.plan.read_text() if args.plan else (stdin or sys.stdin).read()
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise PlanUnreadable(f"not a `pulumi preview --json` document: {err}") from err
        violations, summary = check_document(document, read_stack_file(args.stack_file))
    except PlanUnreadable as err:
        print(f"plan_guard: cannot check this plan: {err}", file=sys.stderr)
        return 2
    if violations:
        print(f"plan_guard: REFUSED ({len(violations)} problem(s)); do not run `pulumi up` with this plan:",
              file=sys.stderr)
        for violation in violations:
            print(f"- {violation.message}", file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
