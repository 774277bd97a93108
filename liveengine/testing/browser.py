"""A real headless browser for the web panel's tests, bench and screenshots: Debian's chromium and chromedriver.

The driver's path is given to Selenium explicitly, so Selenium's own driver manager (which
would download one) never runs: nothing here touches the network.
"""

from __future__ import annotations

import shutil

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "chromium.chromedriver")


class BrowserUnavailable(RuntimeError):
    """No browser or driver here; the message says which package to install."""


def find(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(width: int = 1280, height: int = 860, *, mobile: bool = False):
    """A headless Chromium driven by Selenium; `mobile`: a phone's viewport of width x height CSS pixels, touch events on."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise BrowserUnavailable("selenium is not installed (pip install -e '.[test]')") from None
    binary, driver = find(CHROMIUM), find(DRIVERS)
    if binary is None or driver is None:
        raise BrowserUnavailable("chromium and its driver are not installed (Debian packages chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                 "--disable-renderer-backgrounding", "--disable-background-timer-throttling", f"--window-size={width},{height}"):
        options.add_argument(flag)
    if mobile:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 3, "touch": True},
                                                            "userAgent": "Mozilla/5.0 (Linux; Android 14) Mobile"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
