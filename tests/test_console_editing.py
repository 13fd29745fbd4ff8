"""The console's map editor (``/maps/<m>/edit``) over real HTTP on loopback, memory sides
in process: a preview shows the diff and validate's verdict and saves nothing; only an
accepted preview can be saved, and the saved config takes effect without a restart; a
refused edit shows validate's own lines; every form needs its CSRF token."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import httpx
import pytest

from conftest import until, write_config
from http_endpoint import CRM, FNO, OPEN_HTTP, customer, served, sides
from replicator.config import check_config_text
from replicator.engine import Replicator

TIMEOUT_S = 10.0
EDIT = "/maps/customers/edit"
EDITED_MAPS = """
# levels: fno's words = crm's codes (a comment the editor keeps)
[value_maps.levels]
"<b>gold</b>" = "G&1"  # the gold tier
"silver" = "S"

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "CreditLimit", crm = "creditlimit", direction = "fno->crm" },
  { fno = "Level", crm = "level", value_map = "levels" },
]
conflict = "fno"
"""
LEVELS = '"<b>gold</b>" = G&1\nsilver = S'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, OPEN_HTTP + EDITED_MAPS)


def contents(path: Path) -> str:
    return path.read_text("utf-8")


def write(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def form_of(page: str, **changes: str | None) -> dict[str, str]:
    """The edit form's fields as the page sends them (checked boxes, selected options,
    textareas), with ``changes`` made (``None`` leaves a field out: a box unchecked)."""
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    form |= {name: "on" for name in re.findall(r'name="(on-\d+)" id="[^"]+" checked', page)}
    for name, options in re.findall(r'<select name="([^"]+)".*?>(.*?)</select>', page, re.S):
        form[name] = re.findall(r'<option value="([^"]*)" selected>', options)[0]
    for name, text in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        form[name] = text
    form = {k: unescape(v) for k, v in form.items()}
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value
    return form


def validate_lines(page: str) -> list[str]:
    found = re.search(r'<pre id="validate-errors">(.*?)</pre>', page, re.S)
    assert found, "the page shows no validate refusal"
    return unescape(found.group(1)).splitlines()


async def preview(http: httpx.AsyncClient, **changes: str | None) -> httpx.Response:
    page = (await http.get(EDIT)).text
    return await http.post(EDIT, data=form_of(page, action="preview", **changes))


@pytest.mark.anyio
async def test_a_preview_shows_the_diff_and_saves_nothing_and_save_applies_it_live(
    config: Path,
) -> None:
    """Preview: the value map's diff, validate accepts, the file unchanged. Save (from the
    preview's form): the file has the new pair with its comments kept, the map page says
    so, and the next change is translated with it, without a restart."""
    before = contents(config)
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:
        shown = await preview(http, **{"vm-levels": LEVELS + "\nplatinum = P"})
        assert shown.status_code == 200
        assert 'id="accepted"' in shown.text
        assert '<span class="add">+&#34;platinum&#34; = &#34;P&#34;</span>' in shown.text
        assert contents(config) == before
        saved = await http.post(EDIT, data=form_of(shown.text, action="save"))
        assert saved.status_code == 303, saved.text
        text = contents(config)
        assert "# levels: fno's words = crm's codes" in text and "# the gold tier" in text
        assert '"platinum" = "P"' in text
        notice = (await http.get(saved.headers["location"])).text
        assert "Saved to replicator.toml and applied while running." in notice
        fno.insert(FNO, {**customer("C1"), "Level": "platinum"})
        await until(lambda: [r.get("level") for r in crm.rows(CRM).values()] == ["P"], TIMEOUT_S)


@pytest.mark.anyio
async def test_an_invalid_edit_shows_validates_lines_and_cannot_be_saved(config: Path) -> None:
    """Two values mapped to one: the page shows exactly the lines ``check_config_text``
    (validate's check) gives for the file with that edit, offers no Save, and a forced
    save writes nothing."""
    before = contents(config)
    by_hand = config.parent / "by-hand.toml"
    write(by_hand, before.replace('"silver" = "S"', '"silver" = "G&1"'))
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:
        refused = await preview(http, **{"vm-levels": '"<b>gold</b>" = G&1\nsilver = G&1'})
        expected = [
            line.replace("by-hand.toml", "replicator.toml")
            for line in check_config_text(contents(by_hand), by_hand)
        ]
        assert expected and any("both map to 'G&1'" in line for line in expected)
        assert validate_lines(refused.text) == expected
        assert 'id="save-button"' not in refused.text
        forced = await http.post(EDIT, data=form_of(refused.text, action="save", previewed="x"))
        assert forced.status_code == 400
        assert validate_lines(forced.text) == expected
        assert contents(config) == before


@pytest.mark.anyio
async def test_a_save_without_its_preview_or_token_changes_nothing(config: Path) -> None:
    """Save with no preview hash (or the form changed after its preview) shows a fresh
    preview instead of saving; a form without its CSRF token is refused (403)."""
    before = contents(config)
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:
        page = (await http.get(EDIT)).text
        unpreviewed = await http.post(EDIT, data=form_of(page, action="save", conflict="newest"))
        assert unpreviewed.status_code == 409
        assert "changed since the preview" in unpreviewed.text
        assert 'id="save-button"' in unpreviewed.text  # the fresh preview can be saved
        shown = await preview(http, conflict="newest")
        changed = form_of(shown.text, action="save", conflict="crm")
        assert (await http.post(EDIT, data=changed)).status_code == 409
        forged = await http.post(EDIT, data=form_of(shown.text, action="save", csrf="forged"))
        assert forged.status_code == 403
        assert contents(config) == before


@pytest.mark.anyio
async def test_field_and_conflict_edits_preview_as_the_configs_words(config: Path) -> None:
    """Name off, CreditLimit both ways, conflict newest: the diff writes them as the
    config does (``enabled = false``, no direction, ``conflict = "newest"``); the page
    escapes the value map's values; a form of an older config is refused."""
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:
        page = (await http.get(EDIT)).text
        assert "&lt;b&gt;gold&lt;/b&gt;" in page and "<b>gold</b>" not in page
        assert 'href="/maps/customers/edit"' in (await http.get("/maps/customers")).text
        shown = await preview(http, **{"on-0": None, "dir-1": "=", "conflict": "newest"})
        diff = unescape(re.sub(r"<[^>]+>", "", shown.text.split('id="diff"')[1]))
        assert '+  { fno = "Name", crm = "name", enabled = false },' in diff
        assert '+  { fno = "CreditLimit", crm = "creditlimit" },' in diff
        assert '+conflict = "newest"' in diff
        stale = await http.post(EDIT, data=form_of(page, action="preview", **{"field-0": "X"}))
        assert stale.status_code == 400 and "reload the page" in stale.text


GROUPS_FILE = """
sides = ["fno", "crm"]

[[maps]]
name = "groups"
fno = "CustCustomerGroup"
crm = "msdyn_customergroups"
key = [ { fno = "CustomerGroupId", crm = "msdyn_groupid" } ]
fields = [ { fno = "Description", crm = "msdyn_description" } ]
"""


@pytest.mark.anyio
async def test_a_map_from_an_included_file_is_not_edited_and_says_where_it_is(
    tmp_path: Path,
) -> None:
    """The editor changes only the config file: a map an included file defines has no
    edit link, and its edit page (and a post to it) names that file and changes nothing."""
    write(tmp_path / "groups.toml", GROUPS_FILE)
    written = write_config(tmp_path, OPEN_HTTP + EDITED_MAPS)
    config = tmp_path / "replicator.toml"  # top-level keys go before the first table
    write(config, 'include = ["groups.toml"]\n' + contents(written))
    before = contents(config)
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:
        map_page = (await http.get("/maps/groups")).text
        assert 'id="edit-map"' not in map_page
        assert 'id="edit-map"' in (await http.get("/maps/customers")).text
        page = await http.get("/maps/groups/edit")
        assert page.status_code == 409
        assert "defined in groups.toml, which replicator.toml includes" in page.text
        assert 'id="edit-form"' not in page.text
        form = {"csrf": csrf_of(map_page), "action": "save", "conflict": "crm"}
        assert (await http.post("/maps/groups/edit", data=form)).status_code == 409
        assert contents(config) == before
