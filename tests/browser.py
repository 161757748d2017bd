"""A real headless Chromium driven by Selenium through Debian's chromium-driver
(scripts/system-deps installs both): never a driver Selenium Manager would download, never a
request beyond this machine (no first-run, sync, component or QUIC traffic), a fresh profile."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@contextlib.contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 1000) -> Iterator:
    """A Selenium WebDriver on headless Chromium (skips the test when either is missing)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the test extra)")
    from selenium.webdriver.chrome.service import Service

    binary = chromium_binary()
    if binary is None or not os.access(CHROMEDRIVER, os.X_OK):
        pytest.skip("chromium and chromium-driver not installed (scripts/system-deps)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager never fetches a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def rendered(url: str, profile: Path, ready: str, timeout: float = 60) -> str:
    """The page's DOM once ``ready`` is in its visible text (its scripts fetch from the server:
    on a loaded machine that takes real time, which a fixed virtual-time budget does not wait
    for)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(profile) as driver:
        driver.get(url)
        try:
            WebDriverWait(driver, timeout).until(
                lambda d: ready in d.find_element(By.TAG_NAME, "body").text)
        except Exception:  # noqa: BLE001 - the caller's assertion shows the page
            pass
        return str(driver.page_source)
