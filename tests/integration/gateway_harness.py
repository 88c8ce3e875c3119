"""Run the Node.js Wechaty test gateway (tests/gateway) from Python tests.

The gateway is a real wechaty-puppet-service PuppetServer (plaintext gRPC,
token auth) over wechaty-puppet-mock, with a JSON control API. This module
starts it as a subprocess on free loopback ports and drives it:

    with Gateway(fixture) as gw:
        env = gw.client_env()          # for the Wechaty client
        gw.wait_until_connected()
        gw.say("楼台村干群连心群", "唐命学", "@民情直通车 路灯坏了", mentions=["民情直通车"])
        reply = gw.wait_for_sent(lambda m: "路灯" in m.text)

Standard library only; pytest is imported lazily by the helpers that skip
or fail a test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

GATEWAY_DIR = Path(__file__).resolve().parent.parent / "gateway"
GATEWAY_SCRIPT = GATEWAY_DIR / "gateway.mjs"
MIN_NODE_MAJOR = 18
LOOPBACK = "127.0.0.1"

T = TypeVar("T")

# A county modelled on the design's example: a village room, a township's work
# and leaders' rooms, the county room. The same file serves manual runs.
DEFAULT_FIXTURE_PATH = GATEWAY_DIR / "fixtures" / "county.json"
DEFAULT_FIXTURE: dict[str, Any] = json.loads(DEFAULT_FIXTURE_PATH.read_text(encoding="utf-8"))


class GatewayError(RuntimeError):
    """The gateway could not be installed, started or driven."""


# ---------------------------------------------------------------- environment


def _node_major(node: str) -> int | None:
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    try:
        return int(out.lstrip("v").split(".")[0])
    except ValueError:
        return None


def node_available(node: str = "node") -> bool:
    """True when Node.js (>= 18) and npm are on PATH."""
    path = shutil.which(node)
    if path is None or shutil.which("npm") is None:
        return False
    major = _node_major(path)
    return major is not None and major >= MIN_NODE_MAJOR


def running_in_ci() -> bool:
    """True under CI (env CI=true), where missing tools fail tests instead of skipping them."""
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip the current pytest test, or fail it under CI."""
    import pytest

    if running_in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def require_node() -> None:
    """Skip (or under CI fail) the current test when Node.js is missing."""
    if not node_available():
        skip_or_fail(f"Node.js >= {MIN_NODE_MAJOR} with npm is needed to run the Wechaty test gateway")


def node_modules_installed(gateway_dir: Path = GATEWAY_DIR) -> bool:
    """True when the gateway's npm dependencies are installed."""
    modules = gateway_dir / "node_modules"
    return all(
        (modules / name / "package.json").is_file()
        for name in ("wechaty-puppet-service", "wechaty-puppet-mock", "wechaty-puppet")
    )


_install_lock = threading.Lock()


def ensure_node_modules(gateway_dir: Path = GATEWAY_DIR, timeout: float = 600.0) -> None:
    """Run `npm ci` in the gateway folder unless node_modules is already installed.

    A lock file in the temporary directory keeps parallel test processes from
    installing into the same folder at once.
    """
    import fcntl
    import hashlib

    key = hashlib.sha256(str(gateway_dir.resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"minqing-gateway-npm-{key}.lock"
    with _install_lock, open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if node_modules_installed(gateway_dir):
            return
        npm = shutil.which("npm")
        if npm is None:
            raise GatewayError("npm is not on PATH")
        try:
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=gateway_dir,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise GatewayError(f"npm ci in {gateway_dir} took more than {timeout:.0f}s") from exc
        if proc.returncode != 0 or not node_modules_installed(gateway_dir):
            raise GatewayError(
                f"npm ci in {gateway_dir} failed with exit {proc.returncode}:\n"
                f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def poll_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Call `predicate` until it returns something truthy; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(min(interval, remaining))


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class GatewayMessage:
    """A message recorded by the gateway: one the bot sent, or one a person said."""

    seq: int
    ts: float  # seconds since the epoch, as recorded by the gateway
    message_id: str
    type: str  # "text", "image", ...
    room_id: str | None
    room: str | None  # room topic
    text: str
    mention_ids: tuple[str, ...]
    mention_names: tuple[str | None, ...]
    sender_id: str | None = None  # people's messages only
    sender: str | None = None
    to_id: str | None = None  # bot's direct messages only
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GatewayMessage:
        return cls(
            seq=int(data["seq"]),
            ts=float(data["ts"]) / 1000.0,
            message_id=data["message_id"],
            type=data["type"],
            room_id=data.get("room_id"),
            room=data.get("room"),
            text=data.get("text", ""),
            mention_ids=tuple(data.get("mention_ids", ())),
            mention_names=tuple(data.get("mention_names", ())),
            sender_id=data.get("sender_id"),
            sender=data.get("sender"),
            to_id=data.get("to_id"),
            raw=dict(data),
        )


# ---------------------------------------------------------------- the gateway


class Gateway:
    """The Node.js test gateway as a subprocess, with its control API."""

    def __init__(
        self,
        fixture: Mapping[str, Any] | str | Path | None = None,
        *,
        token: str | None = None,
        host: str = LOOPBACK,
        grpc_port: int | None = None,
        control_port: int | None = None,
        node: str = "node",
        gateway_dir: Path = GATEWAY_DIR,
        startup_timeout: float = 30.0,
        verbose: bool = False,
    ) -> None:
        self.fixture = DEFAULT_FIXTURE if fixture is None else fixture
        self.token = token or f"minqing-test-{os.getpid()}-{time.monotonic_ns()}"
        self.host = host
        self.grpc_port = grpc_port
        self.control_port = control_port
        self.node = node
        self.gateway_dir = Path(gateway_dir)
        self.startup_timeout = startup_timeout
        self.verbose = verbose
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._stdout_lines: list[str] = []
        self._stdout_thread: threading.Thread | None = None
        self._log_path: Path | None = None
        self._log_file: Any = None

    # -------------------------------------------------- lifecycle

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Gateway:
        """Install dependencies if needed, start the gateway and wait until it is ready."""
        if self._proc is not None:
            raise GatewayError("gateway already started")
        if not node_available(self.node):
            raise GatewayError(f"Node.js >= {MIN_NODE_MAJOR} is not available as {self.node!r}")
        ensure_node_modules(self.gateway_dir)
        self._tmp = tempfile.TemporaryDirectory(prefix="minqing-gateway-")
        tmp = Path(self._tmp.name)
        fixture_path = self._fixture_file(tmp)
        self.grpc_port = self.grpc_port or free_port(self.host)
        self.control_port = self.control_port or free_port(self.host)
        self._log_path = tmp / "gateway.log"
        self._log_file = open(self._log_path, "w", encoding="utf-8")  # noqa: SIM115
        cmd = [
            self.node,
            str(self.gateway_dir / GATEWAY_SCRIPT.name),
            "--fixture", str(fixture_path),
            "--host", self.host,
            "--grpc-port", str(self.grpc_port),
            "--control-port", str(self.control_port),
        ]
        if self.verbose:
            cmd.append("--verbose")
        env = dict(os.environ)
        env["WECHATY_PUPPET_SERVICE_TOKEN"] = self.token  # not on the command line
        self._proc = subprocess.Popen(
            cmd,
            cwd=self.gateway_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
            encoding="utf-8",
        )
        self._stdout_thread = threading.Thread(target=self._read_stdout, daemon=True)
        self._stdout_thread.start()
        try:
            poll_until(self._ready, self.startup_timeout, interval=0.05, what="the gateway's READY line")
        except BaseException:
            self.stop()
            raise
        return self

    def _fixture_file(self, tmp: Path) -> Path:
        if isinstance(self.fixture, (str, Path)):
            return Path(self.fixture).resolve()
        path = tmp / "fixture.json"
        path.write_text(json.dumps(self.fixture, ensure_ascii=False), encoding="utf-8")
        return path

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            self._stdout_lines.append(line.rstrip("\n"))

    def _ready(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            code = None if self._proc is None else self._proc.returncode
            raise GatewayError(f"gateway exited with {code} before it was ready:\n{self.log_text()[-4000:]}")
        expected = f"READY grpc={self.host}:{self.grpc_port} control={self.host}:{self.control_port}"
        if expected not in self._stdout_lines:
            return False
        try:
            return bool(self.health().get("logged_in"))
        except GatewayError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the gateway process (SIGTERM, then SIGKILL) and remove its temporary files."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._stdout_thread is not None:
            self._stdout_thread.join(timeout=timeout)
            self._stdout_thread = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmp is not None:
            self._saved_log = self.log_text()
            self._tmp.cleanup()
            self._tmp = None
            self._log_path = None

    def log_text(self) -> str:
        """The gateway's stderr log so far (one line per event)."""
        if self._log_path is not None and self._log_path.exists():
            return self._log_path.read_text(encoding="utf-8", errors="replace")
        return getattr(self, "_saved_log", "")

    # -------------------------------------------------- addresses

    @property
    def endpoint(self) -> str:
        """host:port of the gRPC puppet service."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    def client_env(self, token: str | None = None) -> dict[str, str]:
        """Environment variables that point a python-wechaty client at this gateway."""
        return {
            "WECHATY_PUPPET": "wechaty-puppet-service",
            "WECHATY_PUPPET_SERVICE_ENDPOINT": self.endpoint,
            "WECHATY_PUPPET_SERVICE_TOKEN": self.token if token is None else token,
        }

    # -------------------------------------------------- control API

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                 timeout: float = 10.0) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(
            self.control_url + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")
            raise GatewayError(f"{method} {path} -> HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise GatewayError(f"{method} {path} failed: {exc}") from exc

    def health(self) -> dict[str, Any]:
        """Gateway state: grpc_running, logged_in, client_connected, event_streams_opened, ..."""
        return self._request("GET", "/health", timeout=2.0)

    def fixture_view(self) -> dict[str, Any]:
        """The bot, people and rooms with their ids, as the gateway built them."""
        return self._request("GET", "/fixture")

    def say(self, room: str, sender: str, text: str, mentions: Iterable[str] = ()) -> GatewayMessage:
        """`sender` (name or id) says `text` in `room` (topic or id), @-mentioning `mentions` (names or ids).

        The text is sent as given: write the "@name " part yourself, as WeChat would show it.
        """
        reply = self._request(
            "POST", "/say", {"room": room, "sender": sender, "text": text, "mentions": list(mentions)}
        )
        return GatewayMessage.from_json(reply["message"])

    def say_privately(self, sender: str, text: str) -> GatewayMessage:
        """`sender` (name or id) writes `text` to the bot privately."""
        reply = self._request("POST", "/say", {"room": None, "sender": sender, "text": text})
        return GatewayMessage.from_json(reply["message"])

    def send_image(self, room: str, sender: str, name: str = "photo.png") -> GatewayMessage:
        """`sender` posts a small PNG image in `room` (a non-text message)."""
        reply = self._request("POST", "/image", {"room": room, "sender": sender, "name": name})
        return GatewayMessage.from_json(reply["message"])

    def redeliver(self, message_id: str) -> None:
        """The gateway delivers a message it delivered before again, with the same id."""
        self._request("POST", "/redeliver", {"message_id": message_id})

    def sent_messages(self, since: int = 0) -> list[GatewayMessage]:
        """Messages the bot user sent with seq > since, oldest first."""
        reply = self._request("GET", f"/sent?since={int(since)}")
        return [GatewayMessage.from_json(m) for m in reply["messages"]]

    def said_messages(self, since: int = 0) -> list[GatewayMessage]:
        """Messages people said through `say`/`send_image` with seq > since, oldest first."""
        reply = self._request("GET", f"/said?since={int(since)}")
        return [GatewayMessage.from_json(m) for m in reply["messages"]]

    def last_sent_seq(self) -> int:
        """The seq of the bot's latest message (0 when none): pass it as `since` later."""
        return int(self.health()["last_sent_seq"])

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0,
                 interval: float = 0.02, what: str = "condition") -> T:
        """Poll `predicate` until truthy, at most `timeout` seconds; the gateway must stay up."""

        def check() -> T:
            if self._proc is not None and self._proc.poll() is not None:
                raise GatewayError(f"gateway exited with {self._proc.returncode}:\n{self.log_text()[-4000:]}")
            return predicate()

        return poll_until(check, timeout, interval, what)

    def wait_for_sent(
        self,
        predicate: Callable[[GatewayMessage], bool] | None = None,
        since: int = 0,
        timeout: float = 10.0,
    ) -> GatewayMessage:
        """The first message the bot sent after `since` that matches `predicate`."""

        def find() -> GatewayMessage | None:
            for msg in self.sent_messages(since):
                if predicate is None or predicate(msg):
                    return msg
            return None

        return self.wait_for(find, timeout, what="a matching message from the bot")

    def wait_until_connected(self, timeout: float = 15.0, streams_opened: int = 1) -> dict[str, Any]:
        """Wait until a client holds the event stream, the bot user is logged in, and
        at least `streams_opened` event streams were ever opened (use it to await a reconnect)."""

        def connected() -> dict[str, Any] | None:
            h = self.health()
            ok = h["client_connected"] and h["logged_in"] and h["event_streams_opened"] >= streams_opened
            return h if ok else None

        return self.wait_for(connected, timeout, interval=0.05, what="a connected Wechaty client")

    def restart(self, down: float = 0.0, stop_puppet: bool = True) -> dict[str, Any]:
        """Stop and restart the gRPC server in-process, `down` seconds apart (a gateway restart).

        With stop_puppet the bot user logs out and in again, as after a real restart.
        Connected clients lose their event stream. Returns the gateway's health afterwards.
        """
        reply = self._request(
            "POST", "/restart", {"down_ms": int(down * 1000), "stop_puppet": stop_puppet},
            timeout=down + 15.0,
        )
        return reply["health"]

    def stop_grpc(self, stop_puppet: bool = True) -> dict[str, Any]:
        """Stop the gRPC server (the gateway is "down") but keep the process and control API."""
        return self._request("POST", "/stop", {"stop_puppet": stop_puppet}, timeout=15.0)["health"]

    def start_grpc(self) -> dict[str, Any]:
        """Start the gRPC server again after `stop_grpc`, on the same port."""
        return self._request("POST", "/start", {}, timeout=15.0)["health"]


# ---------------------------------------------------------------- a python-wechaty client

ECHO_BOT_SCRIPT = Path(__file__).resolve().parent / "wechaty_echo_bot.py"
ECHO_BOT_PREFIX = "ECHO-BOT "

_WECHATY_IMPORT_CHECK = (
    "import wechaty_puppet.schemas.puppet as p\n"
    "p.PuppetOptions.__hash__ = object.__hash__\n"
    "import wechaty, wechaty_puppet_service\n"
)


def wechaty_importable(python: str | None = None) -> tuple[bool, str]:
    """Whether `python` (default: this interpreter) can import python-wechaty; and why not."""
    import sys

    python = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="minqing-wechaty-check-") as tmp:
        env = dict(os.environ, CACHE_DIR=str(Path(tmp) / "cache"))
        try:
            proc = subprocess.run(
                [python, "-c", _WECHATY_IMPORT_CHECK],
                capture_output=True, text=True, timeout=60, cwd=tmp, env=env,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"cannot run {python}: {exc}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return False, f"python-wechaty cannot be imported by {python}: {last}"
    return True, ""


def require_wechaty(python: str | None = None) -> None:
    """Skip (or under CI fail) the current test when python-wechaty cannot be imported."""
    ok, reason = wechaty_importable(python)
    if not ok:
        skip_or_fail(reason)


class EchoBotProcess:
    """tests/integration/wechaty_echo_bot.py (a python-wechaty bot) as a subprocess.

    `mode` is "stock" (Wechaty.start(), the SDK's own reconnect) or "supervised"
    (reconnects `retry` seconds after the event stream ends). Its JSON lines are
    collected in `events`; other stdout lines (the SDK print()s some errors) in
    `raw_lines`; its log (stderr) is in `log_text()`.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        cache_dir: str | Path,
        *,
        cwd: str | Path | None = None,
        mode: str = "stock",
        retry: float = 1.0,
        reply: bool = True,
        log_level: str = "INFO",
        python: str | None = None,
    ) -> None:
        import sys

        self.python = python or sys.executable
        self.env = dict(os.environ)
        self.env.update(env)
        self.env.update(
            {
                "CACHE_DIR": str(cache_dir),
                "ECHO_BOT_MODE": mode,
                "ECHO_BOT_RETRY": str(retry),
                "ECHO_BOT_REPLY": "1" if reply else "0",
                "ECHO_BOT_LOG_LEVEL": log_level,
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.cwd = Path(cwd) if cwd is not None else Path(cache_dir).parent
        self.events: list[dict[str, Any]] = []
        self.raw_lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._log_path = Path(cache_dir).parent / f"echo-bot-{id(self)}.log"
        self._log_file: Any = None

    def __enter__(self) -> EchoBotProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> EchoBotProcess:
        """Start the bot; it connects to the gateway named in its env."""
        self.cwd.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self._log_path, "w", encoding="utf-8")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [self.python, str(ECHO_BOT_SCRIPT)],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
            encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(ECHO_BOT_PREFIX):
                event = json.loads(line[len(ECHO_BOT_PREFIX):])
                event["_read_at"] = time.time()
                self.events.append(event)
            else:
                self.raw_lines.append(line)

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def find(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """Events named `event` whose fields equal `match`."""
        return [
            e for e in list(self.events)
            if e["event"] == event and all(e.get(k) == v for k, v in match.items())
        ]

    def wait_event(self, event: str, timeout: float = 10.0, count: int = 1, **match: Any) -> dict[str, Any]:
        """Wait until at least `count` events named `event` match; return the last of them."""

        def found() -> dict[str, Any] | None:
            exited = self.returncode is not None
            if exited and self._reader is not None:
                self._reader.join(timeout=2.0)  # read what it wrote before it exited
            hits = self.find(event, **match)
            if len(hits) >= count:
                return hits[count - 1]
            if exited:
                raise GatewayError(
                    f"echo bot exited with {self.returncode} while waiting for {event!r}:\n"
                    f"{self.log_text()[-4000:]}"
                )
            return None

        return poll_until(found, timeout, interval=0.01, what=f"echo bot event {event!r} {match or ''}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """Close its stdin (the bot then calls Wechaty.stop()) and wait; kill after `timeout`."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._final_returncode = proc.returncode
        return proc.returncode

    def log_text(self) -> str:
        """The bot's stderr: the SDK's log lines."""
        if self._log_path.exists():
            return self._log_path.read_text(encoding="utf-8", errors="replace")
        return ""
