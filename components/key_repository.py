"""Fernet key repositories (keystone's token keys and credential keys), and their rotation.

keystone reads every file of a repository: the highest-numbered key is the *primary*
(it encrypts), every other one decrypts. File 0 is the *staged* key: the next primary.
`keystone-manage fernet_rotate` promotes the staged key to a new highest number, makes
a new staged key and drops the oldest secondaries. kolla-ha does the same, computed
from a rotation counter instead of run on a host, so every replica gets exactly the
same repository and the keys stay in Pulumi's state:

    rotation R:  file 0 = generation R+1 (staged)
                 file R+1 = generation R (primary)
                 files R, R-1, ... = generations R-1, R-2, ... (secondaries)

A rotation R -> R+1 replaces the replicas one at a time. That never rejects a token:
the key that becomes primary (generation R+1) was already the staged key on every
replica at rotation R, so the replicas not yet replaced decrypt what the new ones
encrypt. The old primary stays on as a secondary, so the new replicas decrypt what the
old ones encrypted. A token outlives one more rotation only as long as
`active_keys - 2` secondaries remain, so rotate at most that often per token lifetime.
"""
from __future__ import annotations


def generation_secret(prefix: str, generation: int) -> str:
    """The name of the secret holding key `generation` of a repository.

    The first deploys named their two keys `<prefix>_0` (staged) and `<prefix>_1`
    (primary); generations 0 and 1 keep those names, so no key changes when rotation
    is introduced.
    """
    index = {0: 1, 1: 0}.get(generation, generation)
    return f"{prefix}_{index}"


def made_as_bytes(generation: int) -> bool:
    """Whether key `generation` keeps the RandomBytes resource the first deploys made it
    with (changing its resource would change the key). Later generations are made so
    that the key is nowhere in the state in plain text (Passwords.fernet_key); two
    rotations retire the first ones."""
    return generation < 2


def repository_layout(rotation: int, active_keys: int) -> dict[int, int]:
    """File number -> key generation held there, at rotation `rotation`.

    `active_keys` counts the staged, the primary and the secondary keys, as keystone's
    `max_active_keys` does.
    """
    if rotation < 0:
        raise ValueError(f"a rotation counter is a whole number >= 0, not {rotation}")
    if active_keys < 3:
        # With no secondary, the replicas rolled first would reject every token the
        # others still issue under the old primary.
        raise ValueError("a key repository needs a staged, a primary and a secondary key at least")
    layout = {0: rotation + 1}
    for age in range(active_keys - 1):
        generation = rotation - age
        if generation < 0:
            break
        layout[generation + 1] = generation
    return layout


def primary_file(layout: dict[int, int]) -> int:
    return max(layout)
