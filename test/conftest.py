import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import RosPeer, new_domain_id  # noqa: E402


@pytest.fixture(scope='module')
def domain_id() -> int:
    """One ROS_DOMAIN_ID per test module."""
    return new_domain_id()


@pytest.fixture(scope='module')
def ros_peer(domain_id):
    peer = RosPeer(domain_id)
    yield peer
    peer.close()
