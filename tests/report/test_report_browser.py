"""report.html in a real headless browser: it loads with no console error, fetches nothing,
every figure decodes, and the verdict is there.

Debian's Chromium and chromedriver (packages chromium and chromium-driver, installed by
.ci/run) driven by Selenium. Without them the tests skip and say what to install; with
CI=true a missing browser is a failure, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900")

DECODE_ALL = """
const done = arguments[arguments.length - 1];
Promise.all(Array.from(document.images, img => img.decode().then(
    () => [img.naturalWidth, img.naturalHeight, null],
    err => [img.naturalWidth, img.naturalHeight, String(err)]))).then(done);
"""


def _missing() -> list[str]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return missing


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        reason = (f"no headless browser: {', '.join(missing)} not found (apt-get install chromium chromium-driver; "
                  f"pip install -e '.[dev]')")
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but the browser tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chaoslab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def load(driver: Any, page: Path) -> dict[str, Any]:
    """Open ``page``; return its console messages, images as decoded, resources fetched, and the verdict text."""
    driver.get_log("browser")  # drop anything left from the previous page
    driver.get(page.resolve().as_uri())
    images = driver.execute_async_script(DECODE_ALL)
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    verdict = driver.execute_script("const v = document.getElementById('verdict'); return v ? v.innerText : null")
    return {"console": driver.get_log("browser"), "images": images, "resources": resources, "verdict": verdict}


def assert_clean(page: dict[str, Any], images: int) -> None:
    errors = [m for m in page["console"] if m["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert len(page["images"]) == images
    for width, height, error in page["images"]:
        assert error is None
        assert width > 0 and height > 0
    assert page["resources"] == []  # data URIs only: nothing was fetched


def test_failing_run_report_loads_cleanly_with_its_verdict(browser: Any, failing_doc: dict[str, Any],
                                                           failing_reports: dict[str, Path]) -> None:
    page = load(browser, failing_reports["html"])
    assert_clean(page, images=3)  # timeline, cascade, the other services
    verdict = page["verdict"]
    missed = sum(not s["met"] for s in failing_doc["slos"])
    breached = len(failing_doc["blast_radius"]["cascade"])
    assert 0 < missed < len(failing_doc["slos"])
    assert f"SLOs missed: {missed} of {len(failing_doc['slos'])} objectives failed" in verdict
    assert f"Time to detect: {failing_doc['time_to_detect_s']:.0f} s after the fault started" in verdict
    assert f"Blast radius: {breached} of {len(failing_doc['services'])} services breached their SLOs" in verdict
    assert "exits with code 1" in verdict


def test_drill_report_shows_playbook_and_drill_figures(browser: Any, drill_doc: dict[str, Any],
                                                       drill_reports: dict[str, Path]) -> None:
    page = load(browser, drill_reports["html"])
    assert_clean(page, images=5)  # plus the playbook's Gantt chart and the drill's CDFs
    required = drill_doc["drill"]["deadlines"]
    missed = [d["name"] for d in required if d["met"] is False]
    assert len(missed) == 1  # the hand-made drill misses exactly its mitigation requirement
    assert f"Deadlines missed: 1 of {len(required)} ({missed[0]})" in page["verdict"]
    assert browser.find_element("id", "playbook").is_displayed()
    assert browser.find_element("id", "drill").is_displayed()


def test_healthy_report_says_so(browser: Any, failing_doc: dict[str, Any], healthy_reports: dict[str, Path]) -> None:
    page = load(browser, healthy_reports["html"])
    assert_clean(page, images=3)
    n = len(failing_doc["slos"])
    assert f"SLOs held: {n} of {n} objectives met." in page["verdict"]
    assert "exit code 0" in page["verdict"]


def test_the_checks_catch_a_broken_page(browser: Any, tmp_path: Path) -> None:
    """The same checks on a page with a corrupt image and a failing script do fail."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,iVBORw0KGgoAAAA=">'
                   "<script>undefinedFunction()</script></body></html>")
    page = load(browser, bad)
    assert any(m["level"] == "SEVERE" for m in page["console"])
    assert page["images"][0][0] == 0 and page["images"][0][2] is not None
    with pytest.raises(AssertionError):
        assert_clean(page, images=1)
