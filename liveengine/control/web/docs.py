"""docs/web.md, the web panel's messages, written from the tables in the code: `python -m liveengine.control.web.docs [PATH]`."""

from __future__ import annotations

import sys
from pathlib import Path

from liveengine.control.feedback import FEEDBACK
from liveengine.control.web.server import (HEARTBEAT_SECONDS, MAX_CLIENTS, MAX_MESSAGE_BYTES, MAX_MESSAGES_PER_SECOND,
                                           MAX_QUEUED_FRAMES, MAX_REPLIES, MAX_WAITING_WRITES, MESSAGE_KEYS, PANEL_STATE)


def markdown() -> str:
    lines = ["# The web panel's messages", "",
             "Generated from `liveengine/control/web/server.py` and `liveengine/control/feedback.py` by "
             "`python -m liveengine.control.web.docs`; a test fails if they differ.", "",
             "The page (`liveengine/control/web/static/`) talks to the engine over one WebSocket at `/ws`, in JSON text frames.",
             "Any other client may do the same (it passes the same checks: the token whenever the panel listens beyond loopback (`--web-host 0.0.0.0`: from this machine too), `Host`, and `Origin` when it sends one).", "",
             "## What a page sends", "",
             "A command of the engine's one table ([docs/osc.md](osc.md) lists every address and argument):",
             '`{"address": "/pad", "args": [3, 4, 0.8]}`. Keys: ' + ", ".join(f"`{k}`" for k in MESSAGE_KEYS) +
             " (`t`, the browser's event time in ms since the epoch, is ignored by the engine and kept for measurements).",
             "Numbers must be JSON numbers and text JSON strings where the table says so; anything else is refused with",
             '`["/error", address, reason]`. One read-only view: `{"view": "pad", "row": R, "col": C}` answers `/pad/info`.', "",
             "## What a page receives", "",
             "Each frame is a JSON array of messages, each an array `[address, arg, ...]`. A new connection first gets",
             "`/hello` and the whole state; after that, what changed, about 30 times a second. Replies to commands",
             "(`/pong`, `/capture path`, ...) and `/error` come the same way, to the page that sent the command.", "",
             "| address | arguments and meaning |", "|---|---|"]
    for address, doc in {**PANEL_STATE, **FEEDBACK}.items():
        lines.append(f"| `{address}` | {doc} |")
    lines += ["", "## Limits", "",
              f"- {MAX_MESSAGES_PER_SECOND:,} messages a second per browser address (a token bucket, as for OSC); the rest are dropped unread.",
              f"- {MAX_MESSAGE_BYTES:,} bytes a message; a larger one closes that socket with code 1009.",
              f"- {MAX_CLIENTS} browsers at once; {MAX_REPLIES} replies per message; {MAX_WAITING_WRITES} file or patch commands waiting.",
              f"- A page {MAX_QUEUED_FRAMES} frames behind is disconnected (code 1013) and reconnects; a socket that answers no ping for "
              f"{HEARTBEAT_SECONDS:g} s is closed.",
              "- Losses are counted and reported once a second (`/report` and the terminal: `web panel lost ...`)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "docs" / "web.md"
    target.write_text(markdown())
    print(f"wrote {target}")
