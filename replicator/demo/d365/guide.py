"""The Dynamics 365 demo's tour: what ``replicator run --demo d365`` prints, and the README shows.

Each step is a command a partner pastes into another terminal: ``python -m
replicator.demo.d365`` acting as a user of F&O or Dataverse, then ``replicator`` itself.
"""

from __future__ import annotations

import shlex
import sys
import textwrap

from ...config import Config
from .world import ENV_FILE

__all__ = ["d365_guide", "d365_tour"]


def d365_guide(config: Config) -> str:
    """The banner: where each system and the console serve, then the tour."""
    urls = {s.name: str(s.options.get("url")) for s in config.sides}
    steps = textwrap.indent(d365_tour(config), "  ")
    return f"""\
The Dynamics 365 demo is starting: the F&O emulator at {urls.get("fno")}, the Dataverse
emulator at {urls.get("crm")}, the standard maps between them (config {config.path}).
The console: http://{config.http.listen}/  (F&O posts its data events to /hooks/fno there)
Each run starts from the emulators' seed data. When the daemon says daemon_started, try:

{steps}"""


def d365_tour(config: Config) -> str:
    """The tour's commands for the demo whose config is ``config``."""
    folder = shlex.quote(str(config.path.parent))
    demo = f"{shlex.quote(sys.executable)} -m replicator.demo.d365 --dir {folder}"
    path = shlex.quote(str(config.path))
    cli = f"env $(cat {shlex.quote(str(config.path.parent / ENV_FILE))}) replicator"
    return f"""\
# 1. Create a customer in F&O, then see the account in Dataverse
{demo} create-customer US-9001 "Northwind Traders" --credit-limit 75000
{demo} account US-9001

# 2. Create an account in Dataverse, then find the customer in F&O
{demo} create-account CRM-9001 "Fabrikam Outfitters" --credit-limit 50000
{demo} customer CRM-9001

# 3. Where every map stands, and the error queue (this run's secrets are in demo.env)
{cli} status --config {path}
{cli} errors --config {path} list
"""
