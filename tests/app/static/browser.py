"""Start headless Chromium for browser tests, or skip the test saying what is missing."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Offline machines: no background downloads, no first-run UI, nothing that phones home.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=en-US",
)


def _find(env: str, names: tuple[str, ...]) -> str | None:
    if path := os.environ.get(env):
        return path if os.access(path, os.X_OK) else None
    return next((p for name in names if (p := shutil.which(name))), None)


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Chrome]:
    """A headless Chromium driven through the system chromedriver.

    The driver path is always given explicitly, so Selenium Manager never tries to
    download one. RAGQA_CHROMIUM / RAGQA_CHROMEDRIVER override the binaries found on PATH.
    """
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    browser = _find("RAGQA_CHROMIUM", BROWSERS)
    driver_path = _find("RAGQA_CHROMEDRIVER", ("chromedriver",))
    if browser is None or driver_path is None:
        pytest.skip(
            "browser test needs Chromium and chromedriver "
            f"(found browser={browser}, chromedriver={driver_path}); "
            "install them with `apt-get install chromium chromium-driver`"
        )
    with tempfile.TemporaryDirectory(prefix="ragqa-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def emulate(driver: Chrome, width: int, height: int, *, mobile: bool = False) -> None:
    """Resize the viewport exactly (window sizes include browser chrome; this does not)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def color_scheme(driver: Chrome, scheme: str) -> None:
    """Emulate `prefers-color-scheme` ("light" or "dark")."""
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
