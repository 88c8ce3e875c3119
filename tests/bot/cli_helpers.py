"""Running the `minqing` command line in-process."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass

from bot.cli import main


@dataclass
class Result:
    """Exit status and output of one command."""

    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict]:
        """Standard output as JSON Lines."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def run(*args: str, stdin: str | bytes | None = None) -> Result:
    """Run `minqing ARGS` and capture its exit status and output (bytes on standard input: as a pipe gives them)."""
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin)) if isinstance(stdin, bytes) else io.StringIO(stdin or "")
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        out, err = sys.stdout.getvalue(), sys.stderr.getvalue()
        sys.stdin, sys.stdout, sys.stderr = old
    return Result(code, out, err)
