"""`make bench`'s closing table: every target the scripts recorded (bench.common.record), in
the order of issue 18's items, with what was measured and whether it was met.

    .venv/bin/python bench/report.py            # after make bench, or after any one script
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, say  # noqa: E402

VERDICT = {True: "met", False: "NOT met", None: "-"}


def main() -> None:
    if not RESULTS.exists():
        raise SystemExit(f"no results in {RESULTS}: run make bench (or a bench script) first")
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    rows.sort(
        key=lambda row: [int(part) if part.isdigit() else part for part in row["item"].split(".")]
    )
    say("| item | target | measured | verdict | note |")
    say("|---|---|---|---|---|")
    for row in rows:
        cells = [row["item"], row["target"], row["measured"], VERDICT[row["met"]], row["note"]]
        say("| " + " | ".join(cells) + " |")
    missed = sum(row["met"] is False for row in rows)
    say()
    say(f"{len(rows)} figures, {missed} target(s) not met")


if __name__ == "__main__":
    main()
