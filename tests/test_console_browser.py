"""The console in a real headless Chromium (Selenium, Debian's ``chromium`` and
``chromium-driver``) against ``replicator run`` on two SQLite files, as an operator uses
it: sign in, watch the maps, pause, clear the error queue, edit a map. Each page is
photographed into ``test-artifacts/console/`` (gitignored) for a person to look at.

Skipped when chromium or chromedriver is missing, except under CI (``CI`` set), where
that is a failure: ``.ci/run`` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from daemon import (
    Daemon,
    cli,
    create_db,
    execute,
    query,
    replicator_argv,
    wait_for,
    wait_rows,
    write_config,
)

pytestmark = pytest.mark.slow

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TOKEN, TOKEN_ENV = "console-token-7c21", "REPLICATOR_CONSOLE_TOKEN"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "console"
WAIT_S = 20.0
LIVE_PAGE_RACES = (NoSuchElementException, StaleElementReferenceException)
FNO_SCHEMA = "CREATE TABLE customers (id INTEGER PRIMARY KEY, account TEXT, name TEXT, tier TEXT);"
CRM_SCHEMA = (
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, accountnumber TEXT, name TEXT, tier TEXT);"
)
CRM_ROWS = "SELECT accountnumber, name FROM accounts ORDER BY accountnumber"
MAPS = f"""[http]
listen = "127.0.0.1:0"
token_env = "{TOKEN_ENV}"

# tiers: fno's word = crm's code (the console's editor keeps this comment)
[value_maps.tiers]
"silver" = "S"  # the silver tier

[[maps]]
name = "customers"
fno = "customers"
crm = "accounts"
key = [{{ fno = "account", crm = "accountnumber" }}]
fields = [{{ fno = "name", crm = "name" }}, {{ fno = "tier", crm = "tier", value_map = "tiers" }}]
create = ["fno"]
"""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]

if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromium and chromium-driver (apt-get install both)")
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Debian's Chromium, headless, with a profile of its own (no downloads, no sync)."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest.fixture(scope="module")
def daemon(folder: Path) -> Iterator[tuple[Daemon, str]]:
    """``replicator run`` on two SQLite sides with a token; its endpoint's URL."""
    create_db(folder / "fno.db", FNO_SCHEMA)
    create_db(folder / "crm.db", CRM_SCHEMA)
    cfg = write_config(folder, MAPS)
    os.environ[TOKEN_ENV] = TOKEN  # the daemon and the CLI read it; a test value
    with Daemon(cfg).start() as running:
        yield running, str(running.wait_event("http_listening")["url"])
        assert running.stop() == 0
    assert TOKEN not in running.log_path.read_text("utf-8")


def photograph(browser: WebDriver, name: str) -> None:
    """A screenshot of the page as it is, for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    assert TOKEN not in browser.page_source


def until(browser: WebDriver, what: str, check: Callable[[WebDriver], Any]) -> Any:
    """Wait (bounded) for ``check`` to return something truthy on the page. An element
    that htmx swapped out between being found and being read is looked up again."""
    wait = WebDriverWait(browser, WAIT_S, ignored_exceptions=LIVE_PAGE_RACES)
    return wait.until(check, f"timed out waiting for {what}")


def press(browser: WebDriver, element_id: str) -> None:
    """Click ``element_id`` on a page whose rows refresh live: found afresh if a refresh
    replaced it between the lookup and the click."""

    def clicked(b: WebDriver) -> bool:
        b.find_element(By.ID, element_id).click()
        return True

    until(browser, f"a click on {element_id}", clicked)


def sign_in(browser: WebDriver, token: str) -> None:
    field = browser.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()


def visit(browser: WebDriver, url: str, path: str) -> None:
    """Open ``path``, signing in on the way if the console asks."""
    browser.get(url + path)
    if browser.current_url.startswith(url + "/login"):
        sign_in(browser, TOKEN)
        until(browser, f"{path} after signing in", lambda b: "/login" not in b.current_url)


def cell(browser: WebDriver, map_name: str, field: str) -> str:
    selector = f"tr[data-map='{map_name}'] [data-field='{field}']"
    return str(browser.find_element(By.CSS_SELECTOR, selector).text)


def cli_json(cfg: Path, *args: str) -> Any:
    done = subprocess.run(
        replicator_argv(*args, "--config", str(cfg), "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_without_the_token_the_console_is_refused_and_the_login_form_lets_in(
    browser: WebDriver, daemon: tuple[Daemon, str]
) -> None:
    """A fresh browser gets the login form, not the maps; a wrong token is refused there;
    the right one opens the maps page, which goes back to the form when the session ends."""
    _, url = daemon
    browser.delete_all_cookies()
    browser.get(url + "/")
    until(browser, "the login form", lambda b: b.current_url.startswith(url + "/login"))
    assert "Table maps" not in browser.page_source
    sign_in(browser, "not-the-token")
    until(browser, "the refusal", lambda b: "That token is not right." in b.page_source)
    photograph(browser, "login-refused")
    sign_in(browser, TOKEN)
    until(browser, "the maps page", lambda b: "Table maps" in b.page_source)
    assert browser.current_url == url + "/"
    browser.delete_all_cookies()  # the session ends: the next refresh goes to the login form
    until(browser, "the login form again", lambda b: b.current_url.startswith(url + "/login"))


def test_the_maps_table_shows_the_live_figures(
    browser: WebDriver, daemon: tuple[Daemon, str], folder: Path
) -> None:
    """The links of the map follow the sides without a reload (htmx refreshes the rows)."""
    _, url = daemon
    execute(folder / "fno.db", "INSERT INTO customers (account, name) VALUES ('F1', 'Contoso')")
    wait_rows(folder / "crm.db", CRM_ROWS, [("F1", "Contoso")])
    visit(browser, url, "/")
    until(browser, "1 link", lambda b: cell(b, "customers", "links") == "1")
    assert cell(browser, "customers", "state") == "running"
    execute(folder / "fno.db", "INSERT INTO customers (account, name) VALUES ('F2', 'Fabrikam')")
    until(browser, "2 links, live", lambda b: cell(b, "customers", "links") == "2")
    photograph(browser, "maps")


def focused_id(browser: WebDriver) -> str:
    return str(browser.execute_script("return document.activeElement.id"))


def tab_to(browser: WebDriver, element_id: str) -> None:
    """Press Tab until ``element_id`` has the focus (as a keyboard user would)."""
    for _ in range(40):
        if focused_id(browser) == element_id:
            return
        ActionChains(browser).send_keys(Keys.TAB).perform()
    raise AssertionError(f"{element_id} cannot be reached with the Tab key")


def test_pausing_from_the_page_pauses_the_map(
    browser: WebDriver, daemon: tuple[Daemon, str]
) -> None:
    """The Pause button, reached with Tab, keeps the focus while the rows refresh and
    pauses the map with Enter (``replicator status`` agrees); Resume runs it again."""
    running, url = daemon
    visit(browser, url, "/")
    browser.execute_script(
        "window.swaps = 0; document.body.addEventListener('htmx:afterSettle', () => swaps++)"
    )
    tab_to(browser, "pause-customers")
    until(browser, "two refreshes of the rows", lambda b: b.execute_script("return swaps") >= 2)
    assert focused_id(browser) == "pause-customers"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    until(browser, "the paused state", lambda b: cell(b, "customers", "state") == "paused")
    (shown,) = cli_json(running.config, "status")["maps"]
    assert (shown["map"], shown["state"]) == ("customers", "paused")
    photograph(browser, "maps-paused")
    press(browser, "resume-customers")
    until(browser, "the running state", lambda b: cell(b, "customers", "state") == "running")
    assert cli_json(running.config, "status")["maps"][0]["state"] == "running"


def test_a_refused_record_is_in_the_queue_and_retry_clears_it_once_fixed(
    browser: WebDriver, daemon: tuple[Daemon, str], folder: Path
) -> None:
    """A customer born on crm (the map creates only from fno) shows on the error queue
    page with its reason; once it exists on fno too, Retry on the page clears it."""
    running, url = daemon
    links = cli_json(running.config, "status")["maps"][0]["links"]
    execute(folder / "crm.db", "INSERT INTO accounts (accountnumber, name) VALUES ('K9', 'Kid')")
    (entry,) = wait_for(lambda: cli_json(running.config, "errors"), "the refused record")
    visit(browser, url, "/errors")
    row = browser.find_element(By.ID, f"error-{entry['id']}")
    assert "accepts new records only from 'fno'" in row.text and "K9" in row.text
    photograph(browser, "errors")
    execute(folder / "fno.db", "INSERT INTO customers (account, name) VALUES ('K9', 'Kid')")
    linked = links + 1
    wait_for(lambda: cli_json(running.config, "status")["maps"][0]["links"] == linked, "K9 linked")
    press(browser, f"retry-{entry['id']}")
    until(browser, "the retry's notice", lambda b: "queued for a fresh attempt" in b.page_source)
    wait_for(lambda: cli_json(running.config, "errors") == [], "the queue to clear")
    visit(browser, url, "/errors")
    assert browser.find_element(By.ID, "queue-empty").is_displayed()
    photograph(browser, "errors-cleared")


def test_the_map_and_activity_pages_render(
    browser: WebDriver, daemon: tuple[Daemon, str], folder: Path
) -> None:
    """The map's page shows its field maps in Dual-write's notation and its chart; the
    activity page a change just made, in words."""
    _, url = daemon
    execute(folder / "fno.db", "INSERT INTO customers (account, name) VALUES ('A1', 'Adatum')")
    visit(browser, url, "/maps/customers")
    arrows = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "td.arrow")]
    assert arrows[:2] == ["=", "="]  # the key, then the name
    assert arrows[2] == "><"  # the tier, translated both ways
    assert browser.find_element(By.CSS_SELECTOR, "svg.chart").is_displayed()
    photograph(browser, "map")
    visit(browser, url, "/activity")
    applied = "#activity-rows tr[data-outcome='applied']"

    def a1_applied(b: WebDriver) -> bool:
        return any("A1" in row.text for row in b.find_elements(By.CSS_SELECTOR, applied))

    until(browser, "A1's change on the live list", a1_applied)
    assert "written to the other side" in browser.find_element(By.CSS_SELECTOR, applied).text
    photograph(browser, "activity")


def edit_tiers(browser: WebDriver, url: str, extra: str) -> None:
    """From the map's page, open its editor, add ``extra`` to the tiers value map with the
    keyboard and press Enter on Preview (reached with Tab)."""
    visit(browser, url, "/maps/customers")
    browser.find_element(By.ID, "edit-map").click()
    until(browser, "the edit page", lambda b: b.current_url == url + "/maps/customers/edit")
    pairs = browser.find_element(By.ID, "vm-tiers")
    pairs.click()
    pairs.send_keys(Keys.CONTROL, Keys.END)
    pairs.send_keys(Keys.ENTER, extra)
    tab_to(browser, "preview-button")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    until(browser, "the preview", lambda b: b.find_elements(By.ID, "preview"))


def crm_tier(folder: Path, account: str) -> Any:
    rows = query(folder / "crm.db", "SELECT tier FROM accounts WHERE accountnumber = ?", (account,))
    return rows[0][0] if rows else None


def test_a_value_map_edit_saved_from_the_page_reaches_the_toml_and_the_next_change(
    browser: WebDriver, daemon: tuple[Daemon, str], folder: Path
) -> None:
    """Preview shows the pair to be added and saves nothing; Save writes it to the TOML
    (its comments kept) and the next change is translated with it, without a restart."""
    running, url = daemon
    before = running.config.read_text("utf-8")
    edit_tiers(browser, url, "gold = G")
    accepted = browser.find_element(By.ID, "accepted").text
    assert "validate accepts this edit" in accepted
    added = [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#diff span.add")]
    assert added == ['+"gold" = "G"']
    assert running.config.read_text("utf-8") == before
    photograph(browser, "edit-preview")
    save = browser.find_element(By.ID, "save-button")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", save)
    photograph(browser, "edit-preview-form")
    save.click()
    until(browser, "the saved notice", lambda b: b.find_elements(By.ID, "saved"))
    assert "applied while running" in browser.find_element(By.ID, "saved").text
    photograph(browser, "edit-saved")
    text = running.config.read_text("utf-8")
    assert '"gold" = "G"' in text
    assert "# tiers: fno's word = crm's code" in text and "# the silver tier" in text
    execute(
        folder / "fno.db",
        "INSERT INTO customers (account, name, tier) VALUES ('T1', 'Tan', 'gold')",
    )
    wait_for(lambda: crm_tier(folder, "T1") == "G", "T1's tier translated by the new pair")
    assert running.proc is not None and running.proc.poll() is None  # the same process


def test_an_invalid_edit_shows_validates_message_and_saves_nothing(
    browser: WebDriver, daemon: tuple[Daemon, str], folder: Path
) -> None:
    """Two values mapped to one: the page shows exactly the lines ``replicator validate``
    prints for a copy of the file with the same edit, offers no Save, and the file stays."""
    running, url = daemon
    before = running.config.read_text("utf-8")
    edit_tiers(browser, url, "bronze = S")
    shown = browser.find_element(By.ID, "validate-errors").text.splitlines()
    assert not browser.find_elements(By.ID, "save-button")
    photograph(browser, "edit-refused")
    copy = folder / "copy" / running.config.name
    copy.parent.mkdir(exist_ok=True)
    table_end = before.index("\n\n[[maps]]")  # the editor adds a pair after the last one
    copy.write_text(before[:table_end] + '\n"bronze" = "S"' + before[table_end:], "utf-8")
    done = cli("validate", "--config", str(copy))
    assert done.returncode == 2, done.stdout + done.stderr
    printed = [line.removeprefix("error: ") for line in done.stderr.splitlines()]
    assert any("both map to 'S'" in line for line in printed), printed
    assert shown == [line.replace(str(copy.parent), str(folder)) for line in printed]
    assert running.config.read_text("utf-8") == before
