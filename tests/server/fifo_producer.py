"""Child process for test_fifo.py: push N checksummed records into a FIFO whose segment fd it inherited."""

import json
import sys
import time

from liveengine.server.fifo import FifoWriter
from liveengine.server.layout import Layout, SharedState


def checksum(i: int) -> int:
    return (i * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF


def main() -> None:
    config = json.loads(sys.argv[1])
    state = SharedState.attach(config["fd"], Layout(**config["layout"]))
    fifo = FifoWriter(state)
    total, full_waits, i = config["records"], 0, 0
    while i < total:
        record = (i, -i, i % 5, i % 1000, float(i % 97) / 97.0, i % 7 - 1, i % 64, i % 300, i * 0.5, checksum(i), i)
        if fifo.put(record) < 0:
            full_waits += 1  # the consumer is behind: wait a little, as a real producer never would
            time.sleep(0.0002)
            continue
        i += 1
        if i % 5000 == 0:
            time.sleep(0.001 * (i // 5000 % 3))  # uneven rates: bursts and pauses
    print(json.dumps({"full_waits": full_waits, "dropped": fifo.dropped}))


if __name__ == "__main__":
    main()
