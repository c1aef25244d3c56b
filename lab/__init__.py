"""A local multi-host lab for kolla-ha: simulated hosts reached over ssh:// and tcp://."""
from lab.lab import Lab, LabStatus
from lab.topology import LabHost

__all__ = ["Lab", "LabHost", "LabStatus"]
