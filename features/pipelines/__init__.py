"""Point-in-time feature pipelines: pure functions of (contract tables, as_of).

Nothing here reads the clock, the environment or the store: callers pass the tables and
the date. See ``docs/features.md`` for the families and the rules they follow.
"""

from features.pipelines.build import active_licensees, build_features, build_panel
from features.pipelines.tables import EventTables, PreparedWorld, prepare_world

__all__ = [
    "EventTables",
    "PreparedWorld",
    "active_licensees",
    "build_features",
    "build_panel",
    "prepare_world",
]
