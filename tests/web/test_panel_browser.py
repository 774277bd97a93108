"""The web panel in a real headless Chromium, playing an engine on the JACK rig: what a performer sees and hears.

One browser and one engine for the module (starting Chromium costs more than a test).
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from liveengine.audio.spec import DeviceSpec
from liveengine.control.osc.server import OscServer, build_message
from liveengine.control.web.server import WebServer
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.testing.browser import BrowserUnavailable, chromium
from liveengine.testing.jack_rig import RATE, Capture, onsets, wait_for

PAD_COLOURS = """return Array.from(document.querySelectorAll('.pad')).map(p =>
    [+p.dataset.row, +p.dataset.col, getComputedStyle(p).backgroundColor]);"""


@pytest.fixture(scope="module")
def panel(jack_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "short.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 8\ncols = 8\n'
                    '[audio]\nsamplerate = 48000\nblocksize = 128\n'
                    '[engine]\nmax_seconds = 0.05\nmaster_gain = 1.0\nvelocity_curve = 1.0\nrender_in = "thread"\n')
    try:
        driver = chromium(1100, 800)
    except BrowserUnavailable as exc:
        pytest.skip(str(exc))
    engine = Engine(load_patch(path))
    assert engine.wait_rendered(timeout=60)
    capture = Capture(jack_server.name)
    engine.start(DeviceSpec.portaudio("JACK", RATE, 128, 2))
    capture.connect_from("liveengine")
    web = WebServer(engine, "127.0.0.1", 0)
    web.start()
    osc = OscServer(engine, "127.0.0.1", 0)  # OSC at the same time as the panel
    osc.start()
    try:
        driver.get(web.url)
        assert wait_for(lambda: driver.execute_script("return window.liveengine.ready"), 10)
        yield engine, capture, web, osc, driver
    finally:
        driver.quit()
        osc.stop()
        web.stop()
        engine.stop()
        capture.close()


def engine_colours(engine) -> dict:
    rows, cols = engine.grid_shape()
    return {(i // cols, i % cols): "rgb({}, {}, {})".format(*d.color) for i, d in enumerate(engine.pad_descriptions()) if d is not None}


def page_colours(driver) -> dict:
    return {(row, col): colour for row, col, colour in driver.execute_script(PAD_COLOURS)}


def pad(driver, row: int, col: int):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'.pad[data-row="{row}"][data-col="{col}"]')


def sent(driver, address: str) -> list:
    return [m for m in driver.execute_script("return window.liveengine.log") if m["address"] == address]


def test_page_shows_64_pads_in_the_engines_colours(panel):
    engine, capture, web, osc, driver = panel
    expected = engine_colours(engine)
    assert len(expected) == 64
    assert wait_for(lambda: page_colours(driver) == expected, 5), (page_colours(driver), expected)
    assert len(set(expected.values())) > 8  # the pads really differ: a page painting one colour would fail
    # Row 0 is the bottom row, as on a controller: the last pad in the page is row 0's last column.
    assert driver.execute_script(PAD_COLOURS)[-1][:2] == [0, 7]


def test_a_click_on_a_pad_plays_that_pads_sound(panel):
    from selenium.webdriver.common.action_chains import ActionChains

    engine, capture, web, osc, driver = panel
    capture.start()
    time.sleep(0.1)
    before = len(engine.hits)
    ActionChains(driver).click(pad(driver, 2, 3)).perform()
    assert wait_for(lambda: sent(driver, "/pad"), 5)
    assert wait_for(lambda: len(engine.hits) > before, 5)
    # a hit taken now starts within a few periods: the capture then holds it whole
    assert capture.wait_for_more(len(engine.instrument.cache.get(engine.instrument.setting.pad_index(2, 3)).samples) + RATE // 10)
    audio, _ = capture.stop()
    (onset,) = onsets(audio[:, 0])
    velocity = sent(driver, "/pad")[-1]["args"][2]
    assert 0.2 <= velocity <= 1.0 and sent(driver, "/pad")[-1]["args"][:2] == [2, 3]
    played = engine.instrument.cache.get(engine.instrument.setting.pad_index(2, 3))
    expected = velocity * played.samples  # velocity curve 1, unity gain
    loud = int(np.flatnonzero(np.abs(expected) > 1e-3)[0])
    heard = audio[onset - loud: onset - loud + len(played.samples), 0]
    np.testing.assert_allclose(heard[loud:], expected[loud:], atol=1e-5)
    neighbour = engine.instrument.cache.get(engine.instrument.setting.pad_index(2, 4)).samples
    assert np.max(np.abs(heard[loud:] - velocity * neighbour[loud: len(heard)])) > 0.01
    # The browser saw it play, through the same feedback OSC subscribers get.
    assert web.counters.handled >= 1 and web.counters.by_reason == {}


def test_two_fingers_play_two_pads_at_once(panel):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.interaction import POINTER_TOUCH

    engine, capture, web, osc, driver = panel
    before = len(engine.hits)
    actions = ActionBuilder(driver)
    for name, (row, col) in (("finger1", (5, 1)), ("finger2", (6, 6))):  # each input's steps run tick by tick together
        finger = actions.add_pointer_input(POINTER_TOUCH, name)
        finger.create_pointer_move(origin=pad(driver, row, col))
        finger.create_pointer_down(button=0)
        finger.create_pause(0.05)
        finger.create_pointer_up(button=0)
    actions.perform()
    assert wait_for(lambda: len(engine.hits) >= before + 2, 10)
    assert {engine.hits[-1].pad, engine.hits[-2].pad} == {5 * 8 + 1, 6 * 8 + 6}


def test_a_drag_on_the_xy_surface_plays_between_pads(panel):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    engine, capture, web, osc, driver = panel
    driver.find_element(By.CSS_SELECTOR, '.modes button[data-mode="xy"]').click()
    surface = driver.find_element(By.ID, "xy")
    width = surface.size["width"]
    before = len(engine.hits)
    capture.start()
    time.sleep(0.05)
    ActionChains(driver).move_to_element_with_offset(surface, int(-0.3 * width), 0).click_and_hold() \
        .move_by_offset(int(0.2 * width), 0).pause(0.1).move_by_offset(int(0.2 * width), 0).pause(0.1).release().perform()
    driver.find_element(By.CSS_SELECTOR, '.modes button[data-mode="pads"]').click()
    hits = sent(driver, "/xy")
    assert len(hits) >= 3  # the press and at least one hit per half pad dragged
    assert wait_for(lambda: len(engine.hits) >= before + len(hits), 5)
    assert capture.wait_for_more(RATE // 5 + RATE // 10)
    audio, _ = capture.stop(every_cycle=False)
    assert len(onsets(audio[:, 0], min_gap=600)) >= 2
    x, y = hits[0]["args"][:2]
    assert 0.15 < x < 0.25 and 0.45 < y < 0.55  # 0.3 of the width left of the centre, halfway up
    # Between pads: the points heard are not the pads' own (an exact render, or the nearest pad meanwhile).
    assert {h.kind for h in list(engine.hits)[before:]} <= {"exact", "fallback"}


def test_a_knob_move_rerenders_the_grid_and_the_colours_follow(panel):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    engine, capture, web, osc, driver = panel
    before = engine_colours(engine)
    dial = driver.find_element(By.ID, "dial-zoom")
    ActionChains(driver).click_and_hold(dial).move_by_offset(int(dial.size["width"] * 0.3), 0).release().perform()
    assert wait_for(lambda: engine.param_value("zoom") > 1.5, 10), engine.param_value("zoom")
    assert engine.wait_rendered(timeout=30)
    after = engine_colours(engine)
    assert sum(after[k] != before[k] for k in after) > 16
    assert wait_for(lambda: page_colours(driver) == engine_colours(engine), 5)
    shown = driver.find_element(By.CSS_SELECTOR, "#dials b").text  # the dial's value, as the engine sent it back
    assert float(shown) == pytest.approx(engine.param_value("zoom"), abs=0.01)


def test_a_drag_in_move_mode_slides_the_plane(panel):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    engine, capture, web, osc, driver = panel
    x0, y0 = engine.param_value("center_x"), engine.param_value("center_y")
    driver.find_element(By.CSS_SELECTOR, '.modes button[data-mode="move"]').click()
    surface = driver.find_element(By.ID, "xy")
    ActionChains(driver).move_to_element(surface).click_and_hold().move_by_offset(int(surface.size["width"] * 0.25), 0) \
        .pause(0.1).release().perform()
    driver.find_element(By.CSS_SELECTOR, '.modes button[data-mode="pads"]').click()
    assert wait_for(lambda: engine.param_value("center_x") < x0 - 0.1, 10)  # the map follows the finger: its centre moves left
    assert engine.param_value("center_y") == pytest.approx(y0, abs=0.05)
    assert sent(driver, "/param")[-1]["args"][0] in ("center_x", "center_y")
    assert engine.wait_rendered(timeout=30)


def test_the_keyboard_plays_a_block_that_the_arrows_move(panel):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    engine, capture, web, osc, driver = panel
    before = len(engine.hits)
    # Keys typed into a dial change the dial, not the pads: a test before this one may have left a dial focused.
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    ActionChains(driver).send_keys("z").send_keys(Keys.ARROW_UP).send_keys(Keys.ARROW_RIGHT).send_keys("4").perform()
    assert [m["args"] for m in sent(driver, "/pad")[-2:]] == [[0, 0, 0.8], [4, 4, 0.8]]  # block row 3, column 3, moved up 1, right 1
    assert wait_for(lambda: len(engine.hits) >= before + 2, 10)
    assert [h.pad for h in list(engine.hits)[-2:]] == [0, 4 * 8 + 4]


def test_an_osc_hit_lights_the_pad_in_the_browser(panel):
    engine, capture, web, osc, driver = panel
    lit = []
    driver.execute_script("window.__lit = []; new MutationObserver(ms => ms.forEach(m => m.target.classList.contains('playing') && "
                          "window.__lit.push([+m.target.dataset.row, +m.target.dataset.col]))).observe(document.getElementById('grid'), "
                          "{attributes: true, subtree: true, attributeFilter: ['class']})")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.sendto(build_message("/pad", 4, 5, 0.9), osc.address)
    client.close()
    assert wait_for(lambda: lit.extend(driver.execute_script("return window.__lit.splice(0)")) or [4, 5] in lit, 10), lit


def test_the_page_fits_a_390_px_phone_and_does_not_scroll_under_the_fingers(panel):
    engine, capture, web, osc, driver = panel
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    try:
        layout = driver.execute_script("""const pads = [...document.querySelectorAll('.pad')].map(p => p.getBoundingClientRect());
            return {overflow: document.documentElement.scrollWidth, smallest: Math.min(...pads.map(r => r.width)),
                    right: Math.max(...pads.map(r => r.right)), touch: getComputedStyle(document.getElementById('surface')).touchAction,
                    padTouch: getComputedStyle(document.querySelector('.pad')).touchAction};""")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert layout["overflow"] <= 390 and layout["right"] <= 390  # no sideways scrolling, every pad on screen
    assert layout["smallest"] >= 36  # a fingertip's worth
    assert layout["touch"] == "none" and layout["padTouch"] == "none"


def test_the_page_reconnects_to_a_restarted_server_and_resyncs(panel):
    engine, capture, web, osc, driver = panel
    port = web.address[1]
    web.stop()
    assert wait_for(lambda: driver.execute_script("return document.getElementById('conn').textContent") != "connected", 10)
    again = WebServer(engine, "127.0.0.1", port)
    again.start()
    try:
        assert wait_for(lambda: driver.execute_script("return window.liveengine.state.session") == again.session, 5)
        assert wait_for(lambda: page_colours(driver) == engine_colours(engine), 5)
        assert driver.execute_script("return document.getElementById('conn').textContent") == "connected"
    finally:
        again.stop()
