"""Command recognition on the table of realistic chat lines (tests/routing/chat_table.py): precision and recall.

    .venv/bin/python benchmarks/commands.py

A line counts as a command when the parser makes a command (well-formed or malformed) of it.
Precision: of the lines taken as commands, how many are commands in the table (and read as the
table says: verb, number and argument); recall: of the table's commands, how many were taken so.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.routing.chat_table import TABLE  # noqa: E402
from tests.routing.test_chat_table import recognise  # noqa: E402


def main() -> None:
    taken = right = actual = 0
    wrong: list[str] = []
    for text, expected in TABLE:
        got = recognise(text)
        taken += got is not None
        actual += expected is not None
        if got is not None and got == expected:
            right += 1
        elif got != expected:
            wrong.append(f"  {text!r}: expected {expected}, got {got}")
    precision = right / taken if taken else 1.0
    recall = right / actual if actual else 1.0
    print(f"{len(TABLE)} lines: {actual} commands, {len(TABLE) - actual} not commands")
    print(f"precision {precision:.3f} ({right}/{taken}), recall {recall:.3f} ({right}/{actual})")
    if wrong:
        print("misread:\n" + "\n".join(wrong))


if __name__ == "__main__":
    main()
