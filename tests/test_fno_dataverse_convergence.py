"""Acceptance: the real daemon between the emulated F&O (data events) and the emulated Dataverse.

The F&O variant of test_fno_convergence.py with the Dataverse emulator on the other side (its
change-tracking feed) instead of SQLite: both emulators run as processes of their own, the F&O
emitter's delivery faults are on, the daemon is SIGKILLed three times while events are in flight,
a seeded workload creates, renames, re-credits and deletes customers on both sides (a user of
each emulator), and a last batch of F&O changes loses every event. ``replicator reconcile``
must then bring both sides to the model through the customers map: nothing lost, no duplicate.
The maps are small cuts of config/standard's: customers keyed on company (``msdyn_company``) and
account number with name, credit limit and the customer group as a lookup into the groups map
(F&O's groups, born in F&O only; the emulator's ``demf`` groups have no Dataverse company, so
they land in the error queue and stay there).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from dataverse_process import SECRET_ENV as DV_SECRET_ENV
from dataverse_process import EmulatorProcess, User
from dataverse_world import COMPANY, CUSTOMERS, CrmReader
from fno_process import FnoProcess, FnoUser, free_port
from fno_workload import ENTITY, GROUP, MAP, Key, Model, Record, Workload, differences, fno_records
from test_fno_convergence import (
    FAULTS,
    HOOK_ENV,
    HOOK_KEY,
    SECRET_ENV,
    kill_reconcile_and_settle,
)

from daemon import cli_json

SEED = 20261213
UNPLACEABLE_GROUPS = 2  # the emulator's demf groups: no such company in Dataverse
GROUPS_TOML = f"""
[[maps]]
name = "customer_groups"
fno = "CustomerGroups"
crm = "msdyn_customergroups"
key = [ {{ fno = "dataAreaId", crm = "{COMPANY}" }},
        {{ fno = "CustomerGroupId", crm = "msdyn_groupid" }} ]
fields = [ {{ fno = "Description", crm = "msdyn_description" }} ]
create = ["fno"]
"""
MAP_TOML = (
    GROUPS_TOML
    + f"""
[[maps]]
name = "{MAP}"
fno = "{ENTITY}"
crm = "accounts"
key = [ {{ fno = "dataAreaId", crm = "{COMPANY}" }},
        {{ fno = "CustomerAccount", crm = "accountnumber" }} ]
fields = [
  {{ fno = "OrganizationName", crm = "name" }},
  {{ fno = "CreditLimit", crm = "creditlimit" }},
  {{ fno = "CustomerGroupId", crm = "msdyn_customergroupid", lookup = "customer_groups" }},
]
prerequisites = ["customer_groups"]
"""
)


class Dataverse:
    """The accounts in the emulated Dataverse, in the model's terms, edited by a user."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.reader = CrmReader(user)

    def rows(self) -> list[tuple[str, Key, Record]]:
        """Every account: (GUID, key, model record); a duplicated key shows twice."""
        return [
            (
                guid,
                key,
                (
                    v["OrganizationName"] or "",
                    round(float(v["CreditLimit"] or 0), 2),
                    v["CustomerGroupId"] or "",
                ),
            )  # fmt: skip
            for guid, key, v in self.reader.records(CUSTOMERS)
        ]

    def group_guid(self, company: str) -> str:
        """The GUID of the customer group ``GROUP`` of ``company`` (synced from F&O)."""
        select = "msdyn_customergroupid,msdyn_groupid,_msdyn_company_value"
        company_id = self.reader.company_ids[company]
        found = [
            r["msdyn_customergroupid"]
            for r in self.user.rows("msdyn_customergroups", select)
            if r["msdyn_groupid"] == GROUP and r["_msdyn_company_value"] == company_id
        ]
        assert len(found) == 1, f"customer group {GROUP} of {company} in Dataverse: {found}"
        return str(found[0])

    def guid(self, key: Key) -> str | None:
        return next((guid for guid, k, _ in self.rows() if k == key), None)


class DataverseWorkload(Workload):
    """fno_workload's mix with its SQLite edits made in Dataverse through the Web API."""

    def __init__(self, user: FnoUser, crm: Dataverse, state: Path, model: Model, seed: int) -> None:
        super().__init__(user, None, state, model, seed)
        self.dataverse = crm

    def crm_create(self) -> bool:
        key, credit = self.new_key("C"), self.credit()
        name = f"crm customer {key[1]}"
        values = {"OrganizationName": name, "CreditLimit": credit, "CustomerGroupId": GROUP}
        body = self.dataverse.reader.body(CUSTOMERS, key, values, self.dataverse.group_guid(key[0]))
        self.dataverse.user.create("accounts", body)
        self.model.records[key], self.model.born[key] = (name, credit, GROUP), "crm"
        return True

    def crm_credit(self) -> bool:
        key, credit = self.pick("crm"), self.credit()
        guid = self.dataverse.guid(key) if key else None
        if key is None or guid is None:
            return False
        if not self.dataverse.user.update("accounts", guid, {"creditlimit": credit}):
            return False
        name, _, group = self.model.records[key]
        self.model.records[key] = (name, credit, group)
        return True

    def crm_delete(self) -> bool:
        key = self.pick("crm", must_link=True)
        guid = self.dataverse.guid(key) if key else None
        if key is None or guid is None or not self.dataverse.user.delete("accounts", guid):
            return False
        self.model.deleted.add(key)
        return True


@dataclass
class World:
    emulator: FnoProcess
    user: FnoUser
    dataverse: Dataverse
    model: Model
    config: Path

    @property
    def state(self) -> Path:
        return self.config.with_name("state.db")


@contextmanager
def world(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Both emulators, F&O's emitter subscribed to the daemon's hook with faults on, a config."""
    with FnoProcess(tmp / "fno") as emulator, EmulatorProcess(tmp / "dataverse") as crm:
        for name, value in ((SECRET_ENV, emulator.secret), (HOOK_ENV, HOOK_KEY),
                            (DV_SECRET_ENV, crm.secret)):  # fmt: skip
            monkeypatch.setenv(name, value)
        port = free_port()
        emulator.subscribe(f"http://127.0.0.1:{port}/hooks/fno?code={HOOK_KEY}", ENTITY)
        emulator.event_faults(**FAULTS)
        user, crm_user = FnoUser(emulator), User(crm)
        try:
            model = Model(records=fno_records(user))
            model.born = dict.fromkeys(model.records, "fno")
            config = tmp / "replicator.toml"
            config.write_text(
                f'[state]\npath = "state.db"\n\n[http]\nlisten = "127.0.0.1:{port}"\n\n'
                + emulator.fno_side_options(SECRET_ENV, HOOK_ENV, reconcile_minutes=0)
                + "\n"
                + crm.side_options()
                + MAP_TOML,
                encoding="utf-8",
            )
            yield World(emulator, user, Dataverse(crm_user), model, config)
        finally:
            user.close()
            crm_user.close()


def disagreements(w: World) -> list[str]:
    """Every way the two sides differ from the model through the maps (empty when converged)."""
    return differences(w.user, [(key, record) for _, key, record in w.dataverse.rows()], w.model)


@pytest.mark.slow
def test_fno_events_and_dataverse_tracking_converge_after_sigkills_and_reconciliation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F&O events duplicated, reordered, lost and failed, Dataverse edited too, three SIGKILLs."""
    with world(tmp_path, monkeypatch) as w:
        workload = DataverseWorkload(w.user, w.dataverse, w.state, w.model, SEED)

        def only_the_unplaceable_groups_queued() -> None:
            errors = cli_json("errors", "--config", str(w.config), "--json", "list")
            assert [e["map"] for e in errors] == ["customer_groups"] * UNPLACEABLE_GROUPS, errors

        kill_reconcile_and_settle(
            w,
            workload,
            lambda: disagreements(w),
            "fno <-> dataverse convergence",
            only_the_unplaceable_groups_queued,
        )
