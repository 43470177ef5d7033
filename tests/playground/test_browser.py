"""The playground end to end in headless Chromium (selenium + the system chromedriver).

A real server (offline engine) on loopback; the browser has every other host unresolvable
and a dead proxy, and its performance log shows every request the page made. A user enters
a key, drops a generated photo, runs an edit, watches the status, compares before and after
and sees the balance drop by the model's price; a wrong key gets a clear message; a phone-sized
window works by keyboard alone; expired outputs show as expired in the history.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.conftest import Api
from tests.support import ImageHost

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 60  # an upper bound per wait; each returns as soon as its condition holds
PROMPT = "make it black and white"
ARTIFACTS_ENV = "IMAGINE_TEST_ARTIFACTS"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The browser flow is the same on every database: one run, on SQLite."""
    return f"sqlite+aiosqlite:///{tmp_path / 'imagine.db'}"


def _browser_or_skip() -> tuple[str, str]:
    """The rule of tests/http/test_docs.py: skip without Chromium, unless CI is set."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium/chromedriver not installed, and CI is set: .ci/run installs them")
        pytest.skip("chromium or chromedriver not installed (apt-get install chromium-driver)")
    return CHROMIUM, CHROMEDRIVER


@contextmanager
def browser(tmp_path: Path, width: int, height: int, phone: bool = False) -> Iterator[WebDriver]:
    """Headless Chromium with the network off (only loopback resolves) and its performance
    log on."""
    chromium, chromedriver = _browser_or_skip()
    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / f'profile-{width}'}",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
        "--proxy-server=http://127.0.0.1:9",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    if phone:
        # A desktop window cannot be made this narrow: emulate the phone's viewport.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
        )
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def photo(path: Path, size: tuple[int, int] = (800, 600)) -> Path:
    """A photo-like JPEG: sky and ground gradients, a red subject, sensor noise."""
    w, h = size
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, h)[:, None, None]
    sky = np.array([90, 150, 230]) * (1 - y) + np.array([200, 220, 240]) * y
    ground = np.array([70, 90, 60]) * (1 - y) + np.array([40, 50, 35]) * y
    img = np.where(np.arange(h)[:, None, None] < h * 0.55, sky, ground) * np.ones((1, w, 1))
    yy, xx = np.mgrid[0:h, 0:w]
    body = ((xx - w / 2) / (w * 0.22)) ** 2 + ((yy - h * 0.6) / (h * 0.12)) ** 2 < 1
    img[body] = [190, 30, 35]
    img += rng.normal(0, 6, img.shape)
    pixels = np.clip(img, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=90)
    return path


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    """Wait for `condition` (polling every 0.1 s, at most WAIT_S), naming what was awaited."""
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(condition, message=what)


def visible(driver: WebDriver, element_id: str) -> bool:
    return bool(driver.find_element(By.ID, element_id).is_displayed())


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def enter_key(driver: WebDriver, key: str) -> None:
    field = driver.find_element(By.ID, "key")
    field.clear()
    field.send_keys(key, Keys.ENTER)


def history_state(driver: WebDriver) -> str:
    """The newest history entry's state, scrolled into view (thumbnails load lazily)."""
    # One script: the page re-renders the list when the history refreshes.
    return str(
        driver.execute_script(
            "const li = document.querySelector('#history li');"
            " if (!li) return null;"
            " li.scrollIntoView({block: 'center'});"
            " return li.dataset.state"
        )
    )


def finished_status(driver: WebDriver) -> str:
    """Wait until the run ends; its final status."""
    status = driver.find_element(By.ID, "status")
    wait(
        driver,
        lambda _d: status.get_attribute("data-status") in ("finished", "failed"),
        "the run to end",
    )
    return str(status.get_attribute("data-status"))


def requested_urls(driver: WebDriver) -> list[str]:
    """Every URL our pages asked for (see `page_requests`)."""
    return [str(request["url"]) for request in page_requests(driver)]


def page_requests(driver: WebDriver) -> list[dict[str, Any]]:
    """Every request our pages made, from the performance log (Network.requestWillBeSent).
    Requests of the browser's own start page (a chrome:// document, before the test
    navigates) are not the page's."""
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") != "Network.requestWillBeSent":
            continue
        params = message["params"]
        document = str(params.get("documentURL", ""))
        if document.startswith("chrome://") or document == "about:blank":
            continue
        requests.append(params["request"])
    return requests


def assert_only_this_server(urls: list[str], base: str) -> None:
    server = urlsplit(base)
    assert urls
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("blob", "data"):
            continue
        assert (parts.scheme, parts.netloc) == (server.scheme, server.netloc), url


def save_screenshot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    """A screenshot under the test's tmp dir, copied to $IMAGINE_TEST_ARTIFACTS if set."""
    path = tmp_path / name
    assert driver.save_screenshot(str(path))
    target = os.environ.get(ARTIFACTS_ENV)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / name)
    return path


async def test_an_edit_from_key_to_before_after(api: Api, tmp_path: Path) -> None:
    """Key → upload a photo → run → live status → after image → balance down by the price,
    with every request going to this server only."""
    key = await api.account(credits=1000)
    prices = (await api.client.get("/api/v1/models", headers={"Authorization": key})).json()
    price = {m["id"]: m["credits"] for m in prices["models"]}["flux-kontext-max"]
    picture = photo(tmp_path / "street.jpg")

    def scenario() -> dict[str, Any]:
        with browser(tmp_path, 1280, 1000) as driver:
            driver.get(api.url + "/")
            assert driver.current_url == api.url + "/playground"
            enter_key(driver, key)
            wait(driver, lambda d: visible(d, "workspace"), "the workspace after the key")
            balance = driver.find_element(By.ID, "balance")
            wait(driver, lambda _d: balance.get_attribute("data-credits") == "1000", "balance")
            assert not visible(driver, "key-section")
            rows = driver.find_elements(By.CSS_SELECTOR, "#catalog tbody tr")
            catalog = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
            assert ["flux-kontext-max", "edit", f"{price} credits", "offline"] in catalog

            driver.find_element(By.ID, "file").send_keys(str(picture))
            wait(driver, lambda d: visible(d, "input-preview"), "the photo's preview")
            driver.find_element(By.ID, "prompt").send_keys(PROMPT)
            Select(driver.find_element(By.ID, "model")).select_by_value("flux-kontext-max")
            Select(driver.find_element(By.ID, "aspect")).select_by_value("auto")
            driver.find_element(By.ID, "seed").send_keys("7")
            Select(driver.find_element(By.ID, "format")).select_by_value("png")
            assert text(driver, "run") == f"Run edit ({price} credits)"
            driver.find_element(By.ID, "run").click()

            assert finished_status(driver) == "finished", text(driver, "error")
            assert not visible(driver, "error")
            log = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#status-log li")]
            progress = driver.find_element(By.ID, "progress").get_attribute("value")
            wait(driver, lambda d: visible(d, "result"), "the result")
            after = driver.find_element(By.ID, "after")
            size = wait(
                driver,
                lambda d: d.execute_script(
                    "const i = arguments[0];"
                    " return i.complete && i.naturalWidth"
                    " ? [i.naturalWidth, i.naturalHeight] : null",
                    after,
                ),
                "the after image to load",
            )
            before = driver.find_element(By.ID, "before")
            before_src = str(before.get_attribute("src"))
            before_loaded = driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", before
            )
            wait(
                driver,
                lambda _d: balance.get_attribute("data-credits") == str(1000 - price),
                "the balance to drop by the price",
            )
            # The divider answers the keyboard.
            divider = driver.find_element(By.ID, "compare-range")
            divider.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
            clip = driver.execute_script("return arguments[0].style.clipPath", after)
            wait(driver, lambda d: history_state(d) == "ready", "the history thumbnail")
            history = driver.execute_script(
                "return [...document.querySelectorAll('#history li')]"
                ".map(li => [li.dataset.taskId, li.innerText])"
            )
            found = {
                "log": log,
                "progress": progress,
                "size": size,
                "before_src": before_src,
                "before_loaded": before_loaded,
                "engine": text(driver, "engine"),
                "credits_used": text(driver, "credits-used"),
                "task_id": text(driver, "task-id"),
                "warnings": [
                    li.text for li in driver.find_elements(By.CSS_SELECTOR, "#warnings li")
                ],
                "download": driver.find_element(By.ID, "download").get_attribute("href"),
                "after_src": after.get_attribute("src"),
                "clip": clip,
                "history": history,
                "stored_key": driver.execute_script(
                    "return localStorage.getItem('imagine.playground.key')"
                ),
            }
            driver.execute_script("window.scrollTo(0, 0)")  # balance, form and result
            save_screenshot(driver, tmp_path, "playground-finished.png")
            requests = page_requests(driver)
            found["urls"] = [str(r["url"]) for r in requests]
            found["edit_body"] = next(
                r.get("postData") for r in requests if r["url"].endswith("/api/v1/imagine")
            )
            return found

    seen = await asyncio.to_thread(scenario)

    # Live status: the upload, then the async task (202 pending) polled until finished at
    # 100 %, its percentage never going back.
    log = seen["log"]
    assert log[:3] == ["uploading", "submitting", "pending 0%"], log
    assert log[-1] == "finished 100%", log
    percentages = [int(line.rsplit(" ", 1)[1].rstrip("%")) for line in log[2:]]
    assert percentages == sorted(percentages), log
    assert seen["progress"] == "100"
    # auto: a 4:3 photo gives the 4:3 size of the contract's table.
    assert seen["size"] == [1168, 880]
    assert seen["before_src"].startswith("blob:") and seen["before_loaded"]
    assert seen["engine"] == "offline"
    assert seen["credits_used"] == str(price)
    assert any("offline" in w for w in seen["warnings"]), seen["warnings"]
    assert seen["download"] == seen["after_src"]
    assert seen["after_src"].startswith(api.url + "/files/")
    assert seen["clip"] == "inset(0px 0px 0px 48%)"
    assert seen["history"][0][0] == seen["task_id"]
    assert PROMPT in seen["history"][0][1]
    assert json.loads(seen["stored_key"]) == key

    # The server agrees: one finished task, charged the price.
    headers = {"Authorization": key}
    task = (
        await api.client.post("/api/v1/fetch", json={"task_id": seen["task_id"]}, headers=headers)
    ).json()
    assert task["status"] == "finished" and task["image_url"] == seen["after_src"]
    account = (await api.client.get("/api/v1/account", headers=headers)).json()
    assert account["credits"] == 1000 - price
    output = await api.client.get(seen["download"])
    assert output.status_code == 200
    assert Image.open(io.BytesIO(output.content)).size == (1168, 880)

    # The page asked this server for its files and the API, and nobody else for anything.
    assert_only_this_server(seen["urls"], api.url)
    paths = {urlsplit(u).path for u in seen["urls"]}
    assert {"/playground", "/playground/app.js", "/playground/style.css"} <= paths
    assert {"/api/v1/account", "/api/v1/models", "/api/v1/uploads", "/api/v1/imagine"} <= paths
    # The photo went through uploads; the edit named the upload and every chosen option.
    edit = json.loads(seen["edit_body"])
    assert edit["image_url"].startswith(api.url + "/api/v1/uploads/"), edit
    assert {k: edit[k] for k in ("prompt", "model", "aspect_ratio", "seed", "output_format")} == {
        "prompt": PROMPT,
        "model": "flux-kontext-max",
        "aspect_ratio": "auto",
        "seed": 7,
        "output_format": "png",
    }
    assert (tmp_path / "playground-finished.png").stat().st_size > 10_000


async def test_a_wrong_key_gets_a_clear_message(api: Api, tmp_path: Path) -> None:
    """401 is explained in words, the workspace stays closed, nothing is stored."""

    def scenario() -> tuple[str, bool, bool, Any, list[str]]:
        with browser(tmp_path, 1280, 900) as driver:
            driver.get(api.url + "/playground")
            enter_key(driver, "japi_live_not-a-real-key")
            wait(driver, lambda d: visible(d, "key-error"), "the key error")
            focused = driver.switch_to.active_element.get_attribute("id") == "key"
            return (
                text(driver, "key-error"),
                visible(driver, "workspace"),
                focused,
                driver.execute_script("return localStorage.getItem('imagine.playground.key')"),
                requested_urls(driver),
            )

    message, workspace, focused, stored, urls = await asyncio.to_thread(scenario)
    assert "not accepted" in message and "401" in message, message
    assert not workspace
    assert focused  # back in the field to fix it
    assert stored is None
    assert_only_this_server(urls, api.url)


async def test_phone_sized_keyboard_only_history_and_expiry(
    api: Api, tmp_path: Path, image_host: ImageHost
) -> None:
    """A 390×844 window, keys only: key, image URL, instruction, Enter runs it; nothing
    scrolls sideways; the history shows the task, then "expired" once its output expired;
    "Forget key" removes the key and the history from the browser."""
    key = await api.account(credits=50)
    portrait = photo(tmp_path / "portrait.jpg", (600, 800)).read_bytes()
    image_url = image_host.add("/portrait.jpg", portrait, content_type="image/jpeg")

    def scenario() -> dict[str, Any]:
        with browser(tmp_path, 390, 844, phone=True) as driver:
            driver.get(api.url + "/playground")
            # The key field has the focus at start: type and press Enter.
            driver.switch_to.active_element.send_keys(key, Keys.ENTER)
            wait(driver, lambda d: visible(d, "workspace"), "the workspace")
            wait(
                driver,
                lambda d: d.switch_to.active_element.get_attribute("id") == "prompt",
                "focus",
            )
            # Nothing filled in: the page says what is missing, and sends nothing.
            driver.find_element(By.ID, "seed").send_keys(Keys.ENTER)  # Enter submits
            wait(driver, lambda d: visible(d, "error"), "the missing-fields message")
            missing = text(driver, "error")
            driver.find_element(By.ID, "prompt").send_keys("make it sepia")
            Select(driver.find_element(By.ID, "model")).select_by_value("flux-kontext-pro")
            # An image the host does not have: the contract's error, with the task id.
            driver.find_element(By.ID, "image-url").send_keys(image_host.base + "/missing.jpg")
            driver.find_element(By.ID, "seed").send_keys("3", Keys.ENTER)
            failed = finished_status(driver)
            wait(driver, lambda d: visible(d, "error"), "the failure message")
            failure = text(driver, "error")
            url_field = driver.find_element(By.ID, "image-url")
            url_field.clear()
            url_field.send_keys(image_url, Keys.ENTER)  # Enter in a field submits too
            status = finished_status(driver)
            wait(driver, lambda d: visible(d, "result"), "the result")
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            wait(driver, lambda d: history_state(d) == "ready", "the history thumbnail")
            found: dict[str, Any] = {
                "missing": missing,
                "failed": failed,
                "failure": failure,
                "viewport": driver.execute_script("return window.innerWidth"),
                "status": status,
                "error": text(driver, "error"),
                "overflow": overflow,
                "before_missing": visible(driver, "before-missing"),
                "run_visible_in_width": driver.execute_script(
                    "const r = document.getElementById('run').getBoundingClientRect();"
                    " return r.left >= 0 && r.right <= window.innerWidth"
                ),
            }
            save_screenshot(driver, tmp_path, "playground-phone.png")
            # Fifteen days later the output is gone; the browser's cache forgets it too.
            api.clock.advance(timedelta(days=15))
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.refresh()  # the saved key opens the workspace again
            wait(driver, lambda d: visible(d, "workspace"), "the workspace after reload")
            wait(driver, lambda d: history_state(d) == "expired", "the expired thumbnail")
            found["expired_text"] = driver.execute_script(
                "return document.querySelector('#history .thumb').innerText"
            )
            forget = driver.find_element(By.ID, "forget-key")
            forget.send_keys(Keys.ENTER)
            wait(driver, lambda d: visible(d, "key-section"), "the key form again")
            found["forgotten"] = driver.execute_script(
                "return [localStorage.getItem('imagine.playground.key'),"
                " localStorage.getItem('imagine.playground.history')]"
            )
            found["urls"] = requested_urls(driver)
            return found

    try:
        seen = await asyncio.to_thread(scenario)
    except WebDriverException as e:  # pragma: no cover - shows the browser's reason
        raise AssertionError(e.msg) from e
    assert "Type an instruction" in seen["missing"] and "image URL" in seen["missing"]
    assert seen["failed"] == "failed"
    assert "image_url could not be fetched" in seen["failure"], seen["failure"]
    assert re.search(r"task [0-9a-f-]{36}", seen["failure"]), seen["failure"]
    assert seen["status"] == "finished", seen["error"]
    assert seen["viewport"] == 390
    assert seen["overflow"] <= 0
    assert seen["run_visible_in_width"]
    assert seen["before_missing"]  # another host's image is not loaded by the page
    assert seen["expired_text"] == "expired"
    assert seen["forgotten"] == [None, None]
    assert_only_this_server(seen["urls"], api.url)
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 50 - 4


async def test_a_synchronous_answer_is_shown_too(api: Api, tmp_path: Path) -> None:
    """A server that answers the edit at once (200, as without `Prefer: respond-async`)
    gets the same result view; the wait is shown as an indeterminate progress bar."""
    key = await api.account(credits=100)
    picture = photo(tmp_path / "square.jpg", (640, 640))

    def scenario() -> dict[str, Any]:
        with browser(tmp_path, 1280, 900) as driver:
            driver.get(api.url + "/playground")
            enter_key(driver, key)
            wait(driver, lambda d: visible(d, "workspace"), "the workspace")
            # As an older server would: the edit request goes without the async preference.
            # While it is in flight, note whether the progress bar is indeterminate.
            driver.execute_script(
                "const original = window.fetch;"
                " window.fetch = (path, init) => {"
                "   if (path === '/api/v1/imagine') {"
                "     delete init.headers.Prefer;"
                "     window.waitShown = !document.getElementById('progress')"
                "       .hasAttribute('value'); }"
                "   return original(path, init); };"
            )
            driver.find_element(By.ID, "file").send_keys(str(picture))
            driver.find_element(By.ID, "prompt").send_keys("make it sepia")
            driver.find_element(By.ID, "run").click()
            status = finished_status(driver)
            wait(driver, lambda d: visible(d, "result"), "the result")
            return {
                "indeterminate": driver.execute_script("return window.waitShown"),
                "status": status,
                "error": text(driver, "error"),
                "log": [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#status-log li")],
                "credits_used": text(driver, "credits-used"),
                "engine": text(driver, "engine"),
            }

    seen = await asyncio.to_thread(scenario)
    assert seen["status"] == "finished", seen["error"]
    assert seen["indeterminate"] is True
    assert seen["log"] == ["uploading", "submitting", "finished 100%"]
    assert seen["credits_used"] == "8"  # the 200 answer's credits_used
    assert seen["engine"] == "offline"
