"""``python -m jdd_ros.cli``: the ``jdd-ros`` command."""

import sys

from jdd_ros.cli import main

sys.exit(main())
