"""components/key_repository.py: the Fernet repository layout across rotations."""
from __future__ import annotations

import pytest

from components.key_repository import generation_secret, primary_file, repository_layout


def test_rotation_zero_keeps_the_names_and_files_of_the_first_deploys() -> None:
    layout = repository_layout(0, 3)
    assert layout == {0: 1, 1: 0}
    assert {f: generation_secret("keystone_fernet_key", g) for f, g in layout.items()} == {
        0: "keystone_fernet_key_0", 1: "keystone_fernet_key_1"}


@pytest.mark.parametrize("active_keys", [3, 4, 5])
def test_every_rotation_promotes_the_key_every_replica_already_holds(active_keys: int) -> None:
    for rotation in range(12):
        before, after = repository_layout(rotation, active_keys), repository_layout(rotation + 1, active_keys)
        assert after[primary_file(after)] == before[0], "the new primary is the old staged key"
        assert before[primary_file(before)] in after.values(), "the old primary still decrypts"
        assert len(after) == min(active_keys, rotation + 3)
        assert after[0] not in before.values(), "a new staged key"
        assert primary_file(after) == rotation + 2


def test_generation_names_are_distinct() -> None:
    names = [generation_secret("k", g) for g in range(50)]
    assert len(set(names)) == 50


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number"):
        repository_layout(-1, 3)
    with pytest.raises(ValueError, match="a secondary key"):
        repository_layout(0, 2)
