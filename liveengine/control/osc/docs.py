"""Write docs/osc.md from the command table: `python -m liveengine.control.osc.docs [PATH]`."""

import sys
from pathlib import Path

from liveengine.control.osc.server import address_table_markdown

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "docs" / "osc.md"
    target.write_text(address_table_markdown())
    print(f"wrote {target}")
