"""Fixtures for tests that run the Node.js Wechaty test gateway."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_harness import (  # noqa: E402
    EchoBotProcess,
    Gateway,
    ensure_node_modules,
    require_node,
    require_wechaty,
)


@pytest.fixture(scope="session")
def gateway_installed() -> None:
    """Node.js is present (else skip, or fail under CI) and the gateway's npm packages are installed."""
    require_node()
    ensure_node_modules()


@pytest.fixture(scope="session")
def wechaty_client() -> None:
    """python-wechaty can be imported (else skip, or fail under CI)."""
    require_wechaty()


@pytest.fixture
def gateway(gateway_installed: None) -> Iterator[Gateway]:
    """A running test gateway with the default county fixture."""
    gw = Gateway()
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def echo_bot_factory(tmp_path: Path, wechaty_client: None) -> Iterator[object]:
    """Start python-wechaty echo bots: factory(env, **options) -> a started EchoBotProcess."""
    bots: list[EchoBotProcess] = []

    def start(env: dict[str, str], **options: object) -> EchoBotProcess:
        n = len(bots) + 1
        bot = EchoBotProcess(
            env, cache_dir=tmp_path / f"bot{n}" / "cache", cwd=tmp_path / f"bot{n}" / "cwd", **options
        )
        bots.append(bot)
        return bot.start()

    try:
        yield start
    finally:
        for bot in bots:
            bot.stop()
