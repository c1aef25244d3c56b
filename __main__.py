"""kolla-ha: the HA control plane of a Kolla-style OpenStack cloud, as a Pulumi program."""
import gc

import pulumi

from components.inventory import parse_inventory
from components.stack import ControlPlane
from components.stack_config import read_stack_config

# The SDK keeps a few hundred futures and callbacks alive per resource until the program
# ends, and CPython's cyclic collector walks all of them again at every full
# collection: at 81 hosts that was a third of the program's time. A larger young
# generation means far fewer collections; the program creates no garbage cycles worth
# collecting early, and peak memory stays the same (benchmarks/program_scale.py).
gc.set_threshold(50_000, 20, 20)

raw, secret_keys, secrets = read_stack_config()
# Raises with every problem listed before a single resource is declared.
inventory = parse_inventory(raw, secret_keys)
for warning in inventory.warnings:
    pulumi.log.warn(warning)

plane = ControlPlane("kolla-ha", inventory, secrets)
connections = plane.connection_data(inventory)

pulumi.export("internal_vip", inventory.internal_vip)
pulumi.export("external_vip", inventory.external_vip)
pulumi.export("endpoints", plane.endpoints())
pulumi.export("memcached_servers", plane.memcached.servers)
pulumi.export("rabbitmq_nodes", plane.messaging.addresses)
pulumi.export("database", connections["database"])
pulumi.export("transport_urls", connections["transport_urls"])
