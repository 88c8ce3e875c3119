"""Where the benchmarks find the real petition data: $MINQING_DATA, else ../shared/data beside the repository."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def data_dir() -> Path:
    """The data folder (it may not exist)."""
    return Path(os.environ.get("MINQING_DATA") or REPO.parent / "shared" / "data")


def require(*names: str) -> Path:
    """The data folder, or exit 0 with a message when one of the files is missing."""
    folder = data_dir()
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        print(f"skipped: {', '.join(missing)} not found in {folder} (set MINQING_DATA to the data folder)")
        sys.exit(0)
    return folder


def rows(path: Path) -> list[dict[str, str]]:
    """Every row of a UTF-8 CSV file as a dict."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))
