"""replicator: real-time, two-way record replication between two business systems.

The public API::

    from replicator import Replicator

    async with Replicator("replicator.toml") as rep:
        await rep.wait_idle()
        print(await rep.status())
"""

from __future__ import annotations

from .adapter import (
    Change,
    ChangeBatch,
    EntitySpec,
    HookReceiver,
    HookReply,
    Row,
    ScanPage,
    Side,
    Throttled,
    Uninstallable,
    WriteOp,
    WriteResult,
    hook_key_matches,
    load_adapter,
)
from .config import Config, FieldMap, TableMap, ValueMap, load_config, parse_config
from .engine import Replicator
from .errors import (
    AdapterError,
    ConfigError,
    PermanentError,
    ReplicatorError,
    RuleViolation,
    SchemaError,
    StaleEdit,
    StoreBusy,
    StoreError,
    StoreOwned,
    TransientError,
)
from .observe import ChangeEvent, Observers
from .operations import Operations
from .sync.writes import SyncReport

__all__ = [
    "AdapterError",
    "Change",
    "ChangeBatch",
    "ChangeEvent",
    "Config",
    "ConfigError",
    "EntitySpec",
    "FieldMap",
    "HookReceiver",
    "HookReply",
    "Observers",
    "Operations",
    "PermanentError",
    "Replicator",
    "ReplicatorError",
    "Row",
    "RuleViolation",
    "ScanPage",
    "SchemaError",
    "Side",
    "StaleEdit",
    "StoreBusy",
    "StoreError",
    "StoreOwned",
    "SyncReport",
    "TableMap",
    "Throttled",
    "TransientError",
    "Uninstallable",
    "ValueMap",
    "WriteOp",
    "WriteResult",
    "hook_key_matches",
    "load_adapter",
    "load_config",
    "parse_config",
]
