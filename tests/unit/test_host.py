"""components/host.py under mocks: one Docker provider per host, images and volumes on it."""
from __future__ import annotations

from offline.program import unwrap
from tests.unit.program_checks import COMMAND, CONTAINER, PROVIDER, REMOTE_IMAGE, input_sources, label, provider_ref
from tests.unit.program_checks import image_id as image_id_of


def test_one_docker_provider_per_host_reaching_its_daemon(run):
    inv = run.namespace["inventory"]
    providers = {r.name: r for r in run.of_type(PROVIDER)}
    assert set(providers) == {f"{h.name}-docker" for h in inv.hosts}
    for h in inv.hosts:
        reg = providers[f"{h.name}-docker"]
        assert reg.inputs["host"] == f"ssh://root@{h.address}:22"
        assert "BatchMode=yes" in reg.inputs["sshOpts"]
    assert len({provider_ref(run, h.name) for h in inv.hosts}) == len(inv.hosts)


def test_every_docker_resource_names_the_provider_of_its_host(run):
    inv = run.namespace["inventory"]
    hosts = {h.name for h in inv.hosts}
    for reg in run.registrations:
        if not reg.type.startswith("docker:"):
            continue
        host = label(reg, "kolla-ha.host") if reg.type == CONTAINER else reg.name.split("-", 1)[0]
        assert host in hosts, reg.name
        assert reg.provider == provider_ref(run, host), f"{reg.name} uses another host's daemon"


def test_images_pulled_once_per_host_and_only_where_used(run):
    inv = run.namespace["inventory"]
    images = run.of_type(REMOTE_IMAGE)
    assert len({r.name for r in images}) == len(images)
    used = {(label(c, "kolla-ha.host"), c.inputs["image"]) for c in run.containers()}
    # one-shot steps run an image by its id too
    used |= {(c.name.split("-", 1)[0], line.split()[0]) for c in run.of_type(COMMAND)
             for line in (c.inputs.get("create") or "").splitlines() if line.strip().startswith("sha256:")}
    for reg in images:
        host, image = reg.name.split("-image-")
        assert reg.inputs["name"] == inv.images.ref(image)
        assert reg.inputs["keepLocally"] is True
        image_id = image_id_of(run, host, image)
        assert (host, image_id) in used, f"{reg.name} pulled but never used"




def test_preparation_only_where_needed(run):
    inv = run.namespace["inventory"]
    lb, messaging = set(inv.groups["loadbalancer"]), set(inv.groups["messaging"])
    prepared = {r.name[: -len("-prepare")]: r for r in run.of_type(COMMAND) if r.name.endswith("-prepare")}
    assert set(prepared) == lb | messaging
    for host, reg in prepared.items():
        script = reg.inputs["create"]
        assert reg.inputs["update"] == script
        assert ("ip_nonlocal_bind=1" in script) == (host in lb)
        assert ("# BEGIN kolla-ha" in script) == (host in messaging)
        if host in messaging:
            for m in inv.group("messaging"):
                assert f"{m.address} {m.name}" in script
        assert unwrap(reg.inputs["connection"])["host"] == inv.host(host).address
        assert "ip_nonlocal_bind" not in reg.inputs["delete"] or host in lb


def test_volumes_are_named_per_host(run):
    for reg in run.of_type("docker:index/volume:Volume"):
        host, volume = reg.name.split("-volume-")
        assert reg.inputs["name"] == volume
        users = [c for c in run.containers() if label(c, "kolla-ha.host") == host
                 and any(v.get("volumeName") == volume for v in c.inputs.get("volumes") or [])]
        assert users, f"{reg.name} is used by no container on {host}"
        # containers name the volume and wait for it; none takes an input from it
        for user in users:
            assert reg.name in user.depends_on()
            assert not [k for k, srcs in input_sources(user).items() if reg.name in srcs]
