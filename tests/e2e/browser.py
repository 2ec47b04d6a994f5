"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download is never used: the tests launch the system browser
(``DIALER_TEST_CHROMIUM``, default ``/usr/bin/chromium``). Without it, or without the
``playwright`` package, the browser tests skip with the reason, unless
``DIALER_TEST_REQUIRE_BROWSER=1`` (set by CI), which makes a missing browser a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    explicit = os.environ.get("DIALER_TEST_CHROMIUM")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(candidate):
            return candidate
    return shutil.which("chromium")


def _unavailable(message: str) -> None:
    if os.environ.get("DIALER_TEST_REQUIRE_BROWSER"):
        pytest.fail(f"{message} (DIALER_TEST_REQUIRE_BROWSER is set)", pytrace=False)
    pytest.skip(message)


@contextmanager
def launched_browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the browser tests need the playwright package (pip install playwright)")
    path = chromium_path()
    if path is None:
        _unavailable("the browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
