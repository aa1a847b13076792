"""The process-wide shared tables: what a supervisor installs before it forks its workers.

    from tykevents._fast.shared import create_shared_tables
    create_shared_tables(cooldown_capacity, threshold_capacity)  # in the parent, before fork

After that, tykevents.store.cooldown.MemoryCooldown and tykevents.monitor's MonitorService,
when they make their table, take the installed shared one instead of a private one, in the
parent and in every process it forks. Nothing installed (the default, one process): private
tables, as before. The tables must exist before the fork: a mapping made after it is not
shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .shared_cooldown_py import SharedCooldownTable
    from .shared_thresholds_py import SharedThresholdTable

_cooldown: Any = None
_thresholds: Any = None


def use_shared_tables(cooldown: SharedCooldownTable | None, thresholds: SharedThresholdTable | None) -> None:
    """Installs (or, with None, removes) the shared tables of this process and its children."""
    global _cooldown, _thresholds
    _cooldown, _thresholds = cooldown, thresholds


def create_shared_tables(
    cooldown_capacity: int = 1_000_000, threshold_capacity: int = 1_000_000
) -> tuple[SharedCooldownTable, SharedThresholdTable]:
    """Maps both tables in shared memory (the selected twins) and installs them."""
    from .shared_cooldown import SharedCooldownTable
    from .shared_thresholds import SharedThresholdTable

    tables = SharedCooldownTable.create(cooldown_capacity), SharedThresholdTable.create(threshold_capacity)
    use_shared_tables(*tables)
    return tables


def shared_cooldown() -> SharedCooldownTable | None:
    """The installed shared cooldown table, or None."""
    return _cooldown


def shared_thresholds() -> SharedThresholdTable | None:
    """The installed shared threshold table, or None."""
    return _thresholds
