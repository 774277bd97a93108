"""Screenshots of the web panel for the docs: `python scripts/panel_screenshots.py [PATCH]`.

Serves the panel for PATCH (default: the default patch, the drum model) on the offline backend,
opens it in headless Chromium at a desktop size and at a 390 px wide phone viewport, shows one
pad's details, and writes docs/panel-desktop.png and docs/panel-phone.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from liveengine.audio.offline import OfflineBackend
    from liveengine.cli_support import load_patch_arg
    from liveengine.control.web.server import WebServer
    from liveengine.engine import Engine
    from liveengine.testing.browser import chromium
    from liveengine.testing.jack_rig import wait_for

    patch = load_patch_arg(sys.argv[1] if len(sys.argv) > 1 else None)
    engine = Engine(patch)
    engine.wait_rendered(timeout=300)
    o = engine.options
    engine.start(OfflineBackend(o.samplerate, o.blocksize, o.channels))
    web = WebServer(engine, "127.0.0.1", 0)
    web.start()
    try:
        for name, size, mobile in (("desktop", (1280, 820), False), ("phone", (390, 844), True)):
            driver = chromium(*size, mobile=mobile)
            try:
                driver.get(web.url)
                wait_for(lambda: driver.execute_script("return window.liveengine.ready"), 10)
                time.sleep(0.5)
                pad = driver.find_element(By.CSS_SELECTOR, '.pad[data-row="6"][data-col="6"]')
                if mobile:
                    driver.execute_script("window.liveengine.state.ws.send(JSON.stringify({view: 'pad', row: 6, col: 6}))")
                else:
                    ActionChains(driver).move_to_element(pad).perform()
                wait_for(lambda: "row 6, col 6" in driver.find_element(By.ID, "details-text").text, 5)
                driver.execute_script("document.querySelector('.pad[data-row=\"5\"][data-col=\"2\"]').classList.add('playing')")
                target = ROOT / "docs" / f"panel-{name}.png"
                if mobile:  # the whole page, as one scrolls it on a phone
                    height = driver.execute_script("return document.documentElement.scrollHeight")
                    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": size[0], "height": height, "deviceScaleFactor": 2, "mobile": True})
                    time.sleep(0.3)
                driver.save_screenshot(str(target))
                print(f"wrote {target}")
            finally:
                driver.quit()
    finally:
        web.stop()
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
