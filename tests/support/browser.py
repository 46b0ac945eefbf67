"""Debian's chromium driven by Playwright for Python, headless, launched by its executable path (no browser
download), and what the dashboard tests keep of it: console errors, and screenshots as test artifacts.

Screenshots go to `test-artifacts/dashboard/` in the repository (git ignores it), or `$CCR_TEST_ARTIFACTS`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

    from tests.support.ccr_cli import CcrHome

REPO = Path(__file__).resolve().parents[2]
SIGN_IN_LINK = re.compile(r"Dashboard: (http://127\.0\.0\.1:\d+/ui/sign-in\?token=[A-Za-z0-9_-]+)")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# The flags a root, offline, display-less machine needs: without the background-networking ones chromium keeps
# trying Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("Debian's chromium is not installed: run scripts/test.sh (it installs the chromium package).")


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("CCR_TEST_ARTIFACTS") or REPO / "test-artifacts") / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class ConsoleProblems:
    """Every console error or warning and every uncaught page error of a page, as text."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.seen.append(f"console.{message.type}: {message.text} ({message.location.get('url', '')})")


def screenshot(page: Page, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in_link(ccr: CcrHome) -> str:
    """A fresh one-time sign-in link, as `ccr ui --no-browser` prints it (the service started if need be)."""
    result = ccr.run("ui", "--no-browser")
    assert result.returncode == 0, result.stderr
    found = SIGN_IN_LINK.search(result.stdout)
    assert found, result.stdout
    return found.group(1)
