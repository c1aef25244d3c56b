"""The ring step's pure side: the tunables, the wanted devices and the script text."""
from __future__ import annotations

import ast
import json

import pytest
from pydantic import ValidationError

from components.swift_rings import (
    REQUEST_MARKER, STEP_SOURCE, RingDevice, desired_devices, request_of, ring_request, ring_script,
)
from components.swift_settings import RINGS, STORAGE_PORTS, SwiftTunables


def test_defaults_are_kollas():
    swift = SwiftTunables()
    assert (swift.part_power, swift.replicas, swift.min_part_hours) == (10, 3, 1)
    assert [(d.name, d.weight) for d in swift.devices] == [("d1", 100)]
    assert swift.mount_check is True


@pytest.mark.parametrize("bad", [
    {"part_power": 33}, {"part_power": 0}, {"replicas": 0}, {"min_part_hours": -1}, {"devices": []},
    {"devices": [{"name": "d1"}, {"name": "d1"}]}, {"devices": [{"name": "../etc"}]},
    {"devices": [{"name": "d1", "weight": 0}]}, {"mount_check": "no"}, {"workers": 1.5},
])
def test_values_swift_would_refuse_are_refused(bad):
    with pytest.raises(ValidationError):
        SwiftTunables.model_validate(bad)


def test_duplicate_devices_are_named_in_the_error():
    with pytest.raises(ValidationError, match="lists d2 twice"):
        SwiftTunables.model_validate({"devices": [{"name": "d2"}, {"name": "d2"}]})


def test_every_device_of_every_host_at_its_ring_port_in_a_stable_order():
    swift = SwiftTunables.model_validate({"devices": [{"name": "sdc", "weight": 200}, {"name": "sdb"}]})
    wanted = desired_devices(["10.0.0.13", "10.0.0.12"], swift)
    assert set(wanted) == set(RINGS)
    for ring in RINGS:
        assert wanted[ring] == (
            RingDevice("10.0.0.12", STORAGE_PORTS[ring], "sdb", 100), RingDevice("10.0.0.12", STORAGE_PORTS[ring], "sdc", 200),
            RingDevice("10.0.0.13", STORAGE_PORTS[ring], "sdb", 100), RingDevice("10.0.0.13", STORAGE_PORTS[ring], "sdc", 200),
        )
    assert desired_devices(["10.0.0.12", "10.0.0.13"], swift) == wanted


def test_no_storage_host_is_an_error():
    with pytest.raises(ValueError, match="groups.storage"):
        desired_devices([], SwiftTunables())


def test_the_script_carries_the_request_and_nothing_else_changes():
    request = ring_request(["10.0.0.11", "10.0.0.12"], SwiftTunables(), "/etc/kolla-ha/swift", peers=["10.0.0.12"])
    script = ring_script(request)
    assert REQUEST_MARKER not in script
    tree = ast.parse(script)
    assigned = next(n for n in tree.body if isinstance(n, ast.AnnAssign) and n.target.id == "REQUEST")
    embedded = json.loads(assigned.value.args[0].value)
    assert embedded == json.loads(json.dumps(request)) == request_of(script)
    assert (embedded["peers"], embedded["rsync_port"], embedded["rsync_module"]) == (["10.0.0.12"], 10873, "rings")
    # Everything but that line is the step's source, as reviewed.
    source = STEP_SOURCE.read_text().splitlines()
    assert len(script.splitlines()) == len(source)


def test_the_script_is_the_same_for_the_same_inventory():
    swift = SwiftTunables()
    assert ring_script(ring_request(["10.0.0.12", "10.0.0.11"], swift)) == ring_script(
        ring_request(["10.0.0.11", "10.0.0.12"], swift))
