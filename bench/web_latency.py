"""Touch to sound through the web panel, against OSC to sound, on the JACK rig.

    python bench/web_latency.py [--hits 100]

One engine (its audio server process on a JACK dummy server, 48 kHz, 128-frame periods) with an
OSC server and the web panel at once; a headless Chromium (Debian's, through its chromedriver)
shows the panel. First `hits` OSC `/pad` datagrams, then `hits` clicks on a pad in the browser,
each about 0.1 s apart. A hit's start is, for OSC, the moment the datagram is sent; for the panel,
the browser's own time of the `pointerdown` event (`event.timeStamp + performance.timeOrigin`,
which the page logs with every message it sends). Both are placed on the capture's JACK frames
(the capture client notes the wall clock at each cycle); the end is the first audible frame in the
capture. What the browser's time does not include: the touch screen and the operating system
before the browser gets the event (a real phone's digitiser adds its own, typically 10 to 50 ms).

Writes bench/results_web.json and its table in docs/benchmarks.md (between the web-bench markers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
RATE, PERIOD = 48000, 128
PERIOD_MS = PERIOD / RATE * 1000


def stats(values: np.ndarray) -> dict:
    return {"median": float(np.median(values)), "p1": float(np.percentile(values, 1)), "p99": float(np.percentile(values, 99)),
            "max": float(np.max(values)), "n": int(len(values))}


def match(found: np.ndarray, starts: np.ndarray, window: int = RATE // 20) -> tuple[np.ndarray, int]:
    """For each start frame, the first onset from one period before it to `window` frames after (NaN where none)."""
    matched = np.full(len(starts), np.nan)
    for i, start in enumerate(starts):
        near = found[(found >= start - PERIOD) & (found < start + window)]
        if len(near):
            matched[i] = near[0]
    return matched, int(np.isnan(matched).sum())


def wall_minus_perf(samples: int = 21) -> float:
    """time.time() - time.perf_counter(), the median of a few readings (to place the browser's epoch times)."""
    readings = []
    for _ in range(samples):
        a = time.perf_counter()
        wall = time.time()
        b = time.perf_counter()
        readings.append(wall - (a + b) / 2)
    return float(np.median(readings))


def measure(hits: int, server_name: str, tmp: Path) -> dict:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from liveengine.audio.spec import DeviceSpec
    from liveengine.control.osc.server import OscServer, build_message
    from liveengine.control.web.server import WebServer
    from liveengine.engine import Engine
    from liveengine.patch import load_patch
    from liveengine.testing.browser import chromium
    from liveengine.testing.jack_rig import Capture, onsets, wait_for

    class TimedWebServer(WebServer):
        """The panel's server, noting when each message reached it (a measurement hook, nothing else)."""

        arrivals: list = []

        def handle_text(self, client, text):
            if isinstance(text, str) and '"/pad"' in text:  # not the details the page asks for on hover
                self.arrivals.append(time.perf_counter())
            super().handle_text(client, text)

    patch = tmp / "web.toml"
    patch.write_text('[audio]\ntiming = "constant"\n[engine]\nmax_seconds = 0.05\nmaster_gain = 0.5\nrender_in = "process"\n')
    engine = Engine(load_patch(patch))
    engine.wait_rendered(timeout=120)
    capture = Capture(server_name, seconds=hits * 0.4 + 10)
    engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))
    capture.connect_from("liveengine")
    osc = OscServer(engine, "127.0.0.1", 0)
    osc.start()
    web = TimedWebServer(engine, "127.0.0.1", 0)
    web.start()
    driver = chromium(1100, 800)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = random.Random(3)
    try:
        driver.get(web.url)
        assert wait_for(lambda: driver.execute_script("return window.liveengine.ready"), 10), "the panel did not load"
        target = driver.find_element(By.CSS_SELECTOR, '.pad[data-row="2"][data-col="3"]')
        offset_before = wall_minus_perf()
        load_before = round(os.getloadavg()[0], 2)  # the machine may be shared: say how busy it was
        capture.start()
        time.sleep(0.5)
        sent = []
        message = build_message("/pad", 2, 3, 1.0)
        for _ in range(hits):
            time.sleep(0.1 + rng.random() * 0.005)
            sent.append(time.perf_counter())
            client.sendto(message, osc.address)
        time.sleep(0.3)
        web.arrivals.clear()
        for _ in range(hits):
            time.sleep(0.1 + rng.random() * 0.005)
            ActionChains(driver).click(target).perform()
        time.sleep(0.3)
        offset = (offset_before + wall_minus_perf()) / 2
        log = [m for m in driver.execute_script("return window.liveengine.log") if m["address"] == "/pad"]
        pointerdown = np.array([m["t"] / 1000.0 - offset for m in log])
        arrivals = np.array(web.arrivals)
        frames_osc = capture.frames_at(np.array(sent))
        frames_touch = capture.frames_at(pointerdown)
        frames_arrival = capture.frames_at(arrivals)
        placed = bool(np.all(capture.placed(np.array(sent))) and np.all(capture.placed(arrivals)))
        audio, first = capture.stop(every_cycle=False)
        found = onsets(audio[:, 0], min_gap=1200) + first
        result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                  "browser": driver.capabilities.get("browserVersion"), "hits": hits, "period_ms": PERIOD_MS,
                  "capture_cycles_all_placed": placed, "load_average_1min": [load_before, round(os.getloadavg()[0], 2)]}
        if len(log) != hits or len(arrivals) != hits:
            result["error"] = f"{len(log)} clicks logged and {len(arrivals)} reached the server, for {hits} clicks"
            return result
        osc_onsets, osc_missed = match(found, frames_osc)
        touch_onsets, touch_missed = match(found, frames_touch)
        result["missed"] = {"osc": osc_missed, "touch": touch_missed}  # hits with no onset within 50 ms (a stall on a busy machine)
        osc_ms = (osc_onsets - frames_osc) / RATE * 1000
        touch_ms = (touch_onsets - frames_touch) / RATE * 1000
        ok = ~np.isnan(touch_ms)
        result["osc_to_sound_ms"] = stats(osc_ms[~np.isnan(osc_ms)])
        result["touch_to_sound_ms"] = stats(touch_ms[ok])
        result["touch_to_server_ms"] = stats((arrivals - pointerdown)[ok] * 1000)
        result["server_to_sound_ms"] = stats((touch_onsets - frames_arrival)[ok] / RATE * 1000)
        result["touch_minus_osc_median_periods"] = float((np.median(touch_ms[ok]) - np.nanmedian(osc_ms)) / PERIOD_MS)
        result["web_counters"] = {"handled": web.counters.handled, "dropped": web.counters.flood_dropped}
        return result
    finally:
        client.close()
        driver.quit()
        web.stop()
        osc.stop()
        engine.stop()
        capture.close()


def markdown(r: dict) -> str:
    if "error" in r:
        return f"Web panel latency ({r['date']}): {r['error']}.\n"
    o, t, a, s = r["osc_to_sound_ms"], r["touch_to_sound_ms"], r["touch_to_server_ms"], r["server_to_sound_ms"]

    def row(label: str, x: dict) -> str:
        return (f"| {label} | {x['median']:.2f} ms ({x['median'] / r['period_ms']:.2f} periods) | {x['p99']:.2f} ms | "
                f"{x['max']:.2f} ms | {x['p99'] - x['p1']:.2f} ms |")

    return "\n".join([
        f"Measured {r['date']} on {r['machine']} (load average {r['load_average_1min'][0]:g} at the start, "
        f"{r['load_average_1min'][1]:g} at the end), headless Chromium {r['browser']}, {r['hits']} hits each, "
        f"`python bench/web_latency.py`.", "",
        "| on the JACK rig, 48 kHz, 128-frame periods | median | p99 | max | spread (p99-p1) |", "|---|---|---|---|---|",
        row("OSC `/pad` datagram sent to first audible frame", o),
        row("web panel: browser `pointerdown` time to first audible frame", t),
        row("of which `pointerdown` to the message at the server", a),
        row("of which the server to first audible frame", s), "",
        f"Touch to sound is {r['touch_minus_osc_median_periods']:.2f} periods above OSC at the median (goal: at most 2). "
        f"Hits with no onset within 50 ms, left out: OSC {r['missed']['osc']}, panel {r['missed']['touch']}.", ""])


def update_page(table: str) -> None:
    page = ROOT / "docs" / "benchmarks.md"
    text = page.read_text()
    begin, end = "<!-- web:begin -->", "<!-- web:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = f"{head}{begin}\n{table}{end}{rest.split(end, 1)[1]}"
        page.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hits", type=int, default=100)
    args = parser.parse_args()
    from liveengine.testing.jack_rig import JackUnavailable, start_jackd

    name = f"liveengine-bench-web-{os.getpid()}"
    try:
        server = start_jackd(name)
    except JackUnavailable as exc:
        print(f"bench: JACK cannot run here ({exc}); install jackd2.", file=sys.stderr)
        return 1
    os.environ["JACK_DEFAULT_SERVER"] = name  # the audio server process inherits it
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(args.hits, name, Path(tmp))
    finally:
        server.stop()
    (HERE / "results_web.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    update_page(table)
    print(table)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
