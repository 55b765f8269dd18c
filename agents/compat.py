"""What differs between the Pythons a board may have (3.8 to 3.13), in one place.

The agent runs on the board's own python3, often the one its OS shipped: Ubuntu 20.04 and
JetPack 5 have 3.8. Anything newer than 3.8 that the agent needs goes through here.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any, List


def entry_points(group: str) -> List[Any]:
    """The installed entry points of `group` (`entry_points(group=...)` exists from 3.10 only;
    before it, `entry_points()` is a dict of groups, and 3.12 removed that dict interface)."""
    if sys.version_info >= (3, 10):
        return list(metadata.entry_points(group=group))
    return list(metadata.entry_points().get(group, []))
