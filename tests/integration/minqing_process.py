"""`minqing run` as a subprocess against the test gateway, for the integration tests.

    bot = MinqingProcess(tmp_path, gateway).start()
    bot.wait_log("login")
    ...
    assert bot.stop() == 0

The config is config.example.toml with the gateway's endpoint, a free plugin port, a fast
room interval and a fresh SQLite database and data folder under the test's temporary folder.
The bot logs JSON lines (`--log-format json`), collected in `records`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway_harness import Gateway, free_port, poll_until

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "config.example.toml"
TOKEN_ENV = "MINQING_TEST_GATEWAY_TOKEN"


def example_config(endpoint: str, plugin_port: int, room_interval: float = 0.2, per_minute: int = 20) -> str:
    """config.example.toml pointed at a test gateway, with a data folder "data" next to it."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    replacements = {
        r'^data_dir = ""': 'data_dir = "data"',
        r'^endpoint = "[^"]*"': f'endpoint = "{endpoint}"',
        r'^token_env = "[^"]*"': f'token_env = "{TOKEN_ENV}"',
        r"^plugin_port = \d+": f"plugin_port = {plugin_port}",
        r"^room_interval_seconds = [\d.]+": f"room_interval_seconds = {room_interval}",
        r"^per_minute = \d+": f"per_minute = {per_minute}",
    }
    for pattern, value in replacements.items():
        text, n = re.subn(pattern, value, text, count=1, flags=re.MULTILINE)
        assert n == 1, f"config.example.toml has no line matching {pattern}"
    return text


class MinqingProcess:
    """`python -m bot.cli --log-format json run --config ...` in its own folders."""

    def __init__(self, folder: Path, gateway: Gateway | None, *, endpoint: str | None = None,
                 token: str | None = None, room_interval: float = 0.2, per_minute: int = 20,
                 plugin_port: int | None = None, env: Mapping[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.conf_dir = self.folder / "conf"
        self.cwd = self.folder / "cwd"
        self.data_dir = self.conf_dir / "data"
        for d in (self.conf_dir, self.cwd, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.plugin_port = plugin_port or free_port()
        self.endpoint = endpoint or (gateway.endpoint if gateway else f"127.0.0.1:{free_port()}")
        self.token = token if token is not None else (gateway.token if gateway else "no-gateway")
        self.config_path = self.conf_dir / "config.toml"
        self.config_path.write_text(
            example_config(self.endpoint, self.plugin_port, room_interval, per_minute), encoding="utf-8")
        self.db_path = self.conf_dir / "minqing.db"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("WECHATY_PUPPET_SERVICE_ENDPOINT", "WECHATY_PUPPET_SERVICE_TOKEN", "CACHE_DIR")}
        self.env.update({TOKEN_ENV: self.token, "PYTHONUNBUFFERED": "1"})
        self.env.update(env or {})
        self.records: list[dict[str, Any]] = []
        self.other_lines: list[str] = []
        self.stdout = ""
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.returncode: int | None = None
        self.started_at = 0.0

    def command(self, *args: str) -> list[str]:
        """A `minqing` command line with this process's config."""
        return [sys.executable, "-m", "bot.cli", *args, "--config", str(self.config_path)]

    def start(self) -> MinqingProcess:
        """Start `minqing run`."""
        self.started_at = time.monotonic()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--log-format", "json", "run", "--config", str(self.config_path)],
            cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            line = line.rstrip("\n")
            try:
                record = json.loads(line)
            except ValueError:
                self.other_lines.append(line)
                continue
            record["_read_at"] = time.monotonic()
            self.records.append(record)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """Everything the process wrote to stderr so far."""
        return "\n".join([json.dumps(r, ensure_ascii=False) for r in self.records] + self.other_lines)

    def events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """Log records with this `event` field (and these other fields)."""
        return [r for r in list(self.records)
                if r.get("event") == event and all(r.get(k) == v for k, v in match.items())]

    def wait_log(self, event: str, timeout: float = 15.0, count: int = 1,
                 where: Callable[[dict[str, Any]], bool] | None = None, **match: Any) -> dict[str, Any]:
        """Wait until `count` log records with this event (matching) were written; the last of them."""

        def found() -> dict[str, Any] | None:
            hits = [r for r in self.events(event, **match) if where is None or where(r)]
            if len(hits) >= count:
                return hits[count - 1]
            if not self.running:
                if self._reader is not None:
                    self._reader.join(2.0)
                raise AssertionError(f"minqing run exited with {self._proc.poll() if self._proc else None} while "
                                     f"waiting for log event {event!r}:\n{self.log_text()[-4000:]}")
            return None

        return poll_until(found, timeout, interval=0.02, what=f"log event {event!r} {match or ''}")

    def wait_exit(self, timeout: float = 20.0) -> int:
        """Wait for the process to end by itself; its exit status."""
        assert self._proc is not None
        self.returncode = self._proc.wait(timeout)
        self._finish()
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send `sig` (SIGTERM) and wait; kill after `timeout`. Its exit status."""
        proc = self._proc
        if proc is None:
            return self.returncode
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.returncode = proc.returncode
        self._finish()
        return self.returncode

    def _finish(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._reader is not None:
            self._reader.join(5.0)
        if proc.stdout is not None:
            self.stdout = proc.stdout.read()
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another `minqing` command on the same config and database."""
        return subprocess.run(self.command(*args), cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              encoding="utf-8", timeout=60)
