"""The chat page's browser fixtures, shared by its test modules (a module may override
`page`, as the key-prompt tests do for their keyed server). Selenium is imported only when
a browser test asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver import Chrome


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    from tests.app.static.browser import chromium

    with chromium() as driver:
        yield driver


@pytest.fixture
def page(browser: Chrome, live_server: str) -> Chrome:
    """The chat page freshly loaded at desktop size, light scheme, with asks recorded."""
    from tests.app.static.browser import color_scheme, emulate
    from tests.app.static.test_chat_page import RECORD_ASKS, wait

    emulate(browser, 1280, 900)
    color_scheme(browser, "light")
    browser.get(live_server.rstrip("/") + "/")
    wait(browser).until(lambda d: d.execute_script("return document.readyState") == "complete")
    browser.execute_script(RECORD_ASKS)
    browser.get_log("browser")  # start each test with an empty console log
    return browser
