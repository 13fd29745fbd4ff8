"""``replicator validate`` of each standard map file against both emulators over HTTP: the
F&O emulator as side fno and the Dataverse emulator as side crm, as the d365 demo runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.dataverse import create_side as create_crm_side
from adapters.fno import create_side as create_fno_side
from emulators.dataverse import DataverseEmulator
from emulators.fno import FnoEmulator
from replicator.adapter import Side
from replicator.config import Config, load_config
from replicator.config.includes import standard_names
from replicator.schema import check_schema

pytestmark = pytest.mark.anyio
RENAMING = 'fno = "fno", dataverse = "crm"'
FNO_ENV, CRM_ENV, HOOK_ENV = "VALIDATE_FNO_SECRET", "VALIDATE_CRM_SECRET", "VALIDATE_HOOK_KEY"


def remote(emulator: FnoEmulator | DataverseEmulator, adapter: str, secret_env: str) -> str:
    """A side table's body signing in to ``emulator``."""
    return (
        f'adapter = "{adapter}"\nurl = "{emulator.url}"\ntenant_id = "{emulator.tenant_id}"\n'
        f'client_id = "{emulator.client_id}"\nclient_secret_env = "{secret_env}"\n'
        f'authority = "{emulator.authority}"\nca_file = "{emulator.ca_file}"\n'
    )


def both_sides(folder: Path, name: str, fno: FnoEmulator, crm: DataverseEmulator) -> Config:
    path = folder / f"{name}.toml"
    path.write_text(
        f'include = [ {{ file = "standard:{name}", sides = {{ {RENAMING} }} }} ]\n'
        f'[sides.fno]\n{remote(fno, "fno", FNO_ENV)}hook_key_env = "{HOOK_ENV}"\n'
        f"[sides.crm]\n{remote(crm, 'dataverse', CRM_ENV)}",
        encoding="utf-8",
    )
    return load_config(path)


@pytest.fixture
async def emulators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FnoEmulator, DataverseEmulator]]:
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # msal's requests would obey them
        monkeypatch.delenv(variable, raising=False)
    async with FnoEmulator(tmp_path / "fno") as fno, DataverseEmulator(tmp_path / "crm") as crm:
        monkeypatch.setenv(FNO_ENV, fno.client_secret)
        monkeypatch.setenv(CRM_ENV, crm.client_secret)
        monkeypatch.setenv(HOOK_ENV, "validate-hook-key")
        yield fno, crm


async def test_each_standard_map_file_validates_against_both_emulators(
    tmp_path: Path, emulators: tuple[FnoEmulator, DataverseEmulator]
) -> None:
    """Every entity, field, key and filter of every standard file exists on both sides."""
    fno, crm = emulators
    base = both_sides(tmp_path, "all", fno, crm)
    sides: list[Side] = [
        create_fno_side("fno", base.sides[0].options, tmp_path),
        create_crm_side("crm", base.sides[1].options, tmp_path),
    ]
    for side in sides:
        await side.open()
    try:
        problems = {}
        for name in standard_names():
            config = both_sides(tmp_path, name, fno, crm)
            found = [p for i, side in enumerate(sides) for p in await check_schema(config, side, i)]
            if found:
                problems[name] = found
    finally:
        for side in sides:
            await side.close()
    assert problems == {}


async def test_a_field_missing_in_fno_is_named(
    tmp_path: Path, emulators: tuple[FnoEmulator, DataverseEmulator]
) -> None:
    """The check above can fail: an F&O field the emulator lacks is reported with its map."""
    fno, crm = emulators
    config = both_sides(tmp_path, "currencies", fno, crm)
    own = config.path.with_name("own.toml")
    text = (Path(__file__).parents[1] / "config/standard/currencies.toml").read_text("utf-8")
    (tmp_path / "mine.toml").write_text(text.replace('"CurrencyCode"', '"NoSuchCode"', 1))
    own.write_text(config.path.read_text().replace("standard:currencies", "mine.toml"))
    side = create_fno_side("fno", config.sides[0].options, tmp_path)
    await side.open()
    try:
        problems = await check_schema(load_config(own), side, 0)
    finally:
        await side.close()
    assert problems and all(p.startswith("mine.toml: map 'currencies': ") for p in problems)
    assert any("NoSuchCode" in p for p in problems)
