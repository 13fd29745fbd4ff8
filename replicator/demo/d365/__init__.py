"""The Dynamics 365 demo (``replicator run --demo d365``): the F&O and Dataverse emulators and
the daemon between them, with the Dual-write standard maps.

``create_d365_demo(folder)`` writes ``demo.toml`` there once (this package's template, with
free ports and client ids filled in) and later calls reuse it, so a partner can edit it.
``running(config)`` (``world.py``) serves both emulators where that file says, gives the daemon
their secrets and a fresh hook key in environment variables of this process only, and
subscribes the daemon's ``/hooks/<side>`` to the data events of every F&O entity a map names.
``d365_guide(folder)`` (``guide.py``) is the tour the command prints; ``python -m
replicator.demo.d365`` (``client.py``) its commands, acting as a user of either system.
"""

from __future__ import annotations

import os
import socket
import string
import uuid
from importlib import resources
from pathlib import Path

from ...errors import ReplicatorError
from ...files import create_private, os_reason, private_dir
from .guide import d365_guide
from .world import running

__all__ = ["DEFAULT_PORTS", "TEMPLATE", "create_d365_demo", "d365_guide", "running"]

TEMPLATE = resources.files(__name__) / "demo.toml"
"""The demo config's template, package data shipped in the wheel."""

DEFAULT_PORTS = {"http_port": 8400, "crm_port": 8443, "fno_port": 8444}
"""The ports the first run writes into ``demo.toml`` when they are free (else any free one);
8443 and 8444 are what ``python -m emulators.<name>`` uses."""


def create_d365_demo(folder: Path) -> Path:
    """Create ``folder/demo.toml`` once and return its path; later calls reuse it."""
    config = Path(folder) / "demo.toml"
    if config.exists():
        return config
    try:
        private_dir(config.parent)  # 0700: the emulators' connection files hold secrets
        partial = config.with_name("demo.toml.partial")
        partial.unlink(missing_ok=True)
        create_private(partial)
        partial.write_text(_filled_template(), encoding="utf-8")
        os.replace(partial, config)
    except OSError as exc:
        raise ReplicatorError(
            f"{config.parent}: cannot create the demo: {os_reason(exc)} "
            "(run it in a folder you may write)"
        ) from exc
    return config


def _filled_template() -> str:
    values = {name: str(_free_port(port)) for name, port in DEFAULT_PORTS.items()}
    values |= {"fno_client_id": str(uuid.uuid4()), "crm_client_id": str(uuid.uuid4())}
    return string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(values)


def _free_port(preferred: int) -> int:
    """``preferred`` if nothing listens on it on loopback, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise ReplicatorError("cannot find a free port on 127.0.0.1 for the demo")
