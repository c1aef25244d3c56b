"""The rolling chain every tier is built as: one member at a time, each after the previous
one is healthy.

A member's *link* is the resource whose step completing means "this member serves again":
a container counts as created only once its health check passes (`wait`), a command
only once its script exited 0. The next member `depends_on` that link, so a change that
replaces every member replaces them one host after the other. Only the first member
waits for what the tier needs (`after`); the others reach it through the chain.

The chain's last link is the tier's single "ready" resource: whoever needs the whole tier
depends on that one resource, not on every member. The engine orders by `depends_on`
transitively, so this says the same with one edge instead of one per member, which keeps
the dependency graph (and the time the SDK spends walking it) linear in the hosts.

`depends_on` is the only edge used: it orders steps but, unlike an input fed from another
resource's output, never makes the engine delete a member because another one is being
replaced (PULUMI-ENGINE.md §3b).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

import pulumi

Member = TypeVar("Member")


@dataclass(frozen=True)
class Rollout(Generic[Member]):
    """The chain as built: each member's link in order, and the tier's ready resource."""

    members: tuple[Member, ...]
    links: tuple[pulumi.Resource, ...]

    @property
    def ready(self) -> pulumi.Resource:
        """The last link: once it is done, every member is."""
        return self.links[-1]


def roll(
    members: Sequence[Member],
    member: Callable[[Member, list[pulumi.Resource]], pulumi.Resource],
    after: Sequence[pulumi.Resource] = (),
) -> Rollout[Member]:
    """Build `members` as a rolling chain.

    `member(m, waits_on)` declares member `m`, makes its first resource depend on
    `waits_on`, and returns its link. `after` is what the first member waits for.
    """
    if not members:
        raise ValueError("a rolling chain needs at least one member")
    links: list[pulumi.Resource] = []
    waits_on = list(after)
    for m in members:
        link = member(m, waits_on)
        links.append(link)
        waits_on = [link]
    return Rollout(tuple(members), tuple(links))
