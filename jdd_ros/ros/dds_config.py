"""Fast DDS configured by each jdd_ros process for itself, so full-size images arrive with nothing exported.

With the default transports a 640x480 frame does not fit the sender's 512 KiB shared-memory segment, and a
best-effort subscriber on the same machine gets 0-2 of 30 frames (measured: docs/dds.md). The package's profile
(config/fastdds_jdd_ros.xml) gives what a jdd_ros process publishes a 32 MiB segment and makes what it receives arrive
in 4 MiB UDP socket buffers, so neither side needs the other process to be configured; UDP stays on every interface,
so other machines keep working, and ROS_AUTOMATIC_DISCOVERY_RANGE still limits discovery.

The profile is applied by setting FASTDDS_DEFAULT_PROFILES_FILE in this process before its first node exists (Fast
DDS reads it when the participant is created), and only when the user has configured nothing: their configuration
always wins.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

PROFILE = ('config', 'fastdds_jdd_ros.xml')
USER_SETTINGS = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE', 'RMW_FASTRTPS_USE_QOS_FROM_XML',
                 'FASTDDS_BUILTIN_TRANSPORTS', 'ROS2_EASY_MODE', 'FASTDDS_ENVIRONMENT_FILE')
_APPLIED = 'JDD_ROS_FASTDDS_PROFILE_APPLIED'  # marks our own setting, inherited by the processes we start


def user_configuration(env: MutableMapping[str, str] = os.environ) -> str | None:
    """Why the user's own DDS configuration wins, or None when there is none."""
    if env.get(_APPLIED) and env.get('FASTDDS_DEFAULT_PROFILES_FILE') == env[_APPLIED]:
        return None  # set by a jdd_ros parent process (jdd-ros launch), not by the user
    for name in USER_SETTINGS:
        if env.get(name):
            return f'{name} is set'
    rmw = env.get('RMW_IMPLEMENTATION', '')
    if rmw and rmw != 'rmw_fastrtps_cpp':
        return f'RMW_IMPLEMENTATION={rmw}'
    if Path('DEFAULT_FASTDDS_PROFILES.xml').is_file() and not env.get('SKIP_DEFAULT_XML_FILE'):
        return 'DEFAULT_FASTDDS_PROFILES.xml in the working directory'
    return None


def configure_fastdds(env: MutableMapping[str, str] = os.environ) -> str:
    """Apply the package's Fast DDS profile to this process unless the user configured DDS; call it before the first
    node is created. Returns the sentence to log once the node exists."""
    from jdd_ros.bringup import package_file

    reason = user_configuration(env)
    if reason:
        return f'Fast DDS: your configuration is used ({reason}); the jdd_ros profile is not applied'
    try:
        profile = str(package_file(*PROFILE))
    except FileNotFoundError as exc:
        return f'Fast DDS: default transports ({exc}): best-effort full-size images may be lost'
    env['FASTDDS_DEFAULT_PROFILES_FILE'] = env[_APPLIED] = profile
    return (f'Fast DDS: jdd_ros profile {profile} (32 MiB shared memory for what this process publishes, 4 MiB UDP '
            'buffers for what it receives); set FASTDDS_DEFAULT_PROFILES_FILE to use your own')
