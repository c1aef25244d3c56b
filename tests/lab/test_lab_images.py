"""Every image starts on a lab host from a minimal config and passes its health check."""
from __future__ import annotations

import pytest

from images.image_set import KOLLA_IMAGES
from lab import Lab
from lab.topology import lab_hosts
from service_checks import CHECKS
from service_run import run_check

HOSTS = lab_hosts(3)


def test_every_image_has_a_check() -> None:
    assert sorted(CHECKS) == sorted(s.name for s in KOLLA_IMAGES)


@pytest.mark.parametrize("index,name", list(enumerate(CHECKS)), ids=lambda v: str(v))
def test_image_starts_and_is_healthy(lab: Lab, index: int, name: str) -> None:
    # Spread the images over the hosts so every host runs some of them.
    host = HOSTS[index % len(HOSTS)]
    outcome = run_check(CHECKS[name], lab.image_ref(name), host.ssh_url)
    assert outcome.healthy, f"{name} on {host.name} not healthy after {outcome.seconds:.0f}s:\n{outcome.logs}"


def test_a_broken_config_is_reported_unhealthy(lab: Lab) -> None:
    # Guards the harness itself: a probe that cannot pass must fail the check.
    check = CHECKS["haproxy"]
    broken = type(check)(**{**check.__dict__, "probe": "curl -fsS http://127.0.0.1:1/",
                            "timeout": 5.0})
    assert not run_check(broken, lab.image_ref("haproxy"), HOSTS[0].ssh_url).healthy
