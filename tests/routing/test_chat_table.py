"""Command recognition on the table of realistic chat lines: no false command, no missed command."""

from __future__ import annotations

import pytest

from routing.grammar import Malformed, Parsed, parse
from routing.service import COMMANDS
from tests.routing.chat_table import TABLE

BOT = "民情直通车"


def recognise(text: str) -> tuple | None:
    """What the parser makes of a line, in the table's terms."""
    result = parse(text, COMMANDS, BOT)
    if isinstance(result, Parsed):
        return ("command", result.verb, result.number, result.arg)
    if isinstance(result, Malformed):
        return ("malformed", result.problem.value)
    return None


def test_the_table_is_large_and_varied():
    assert len(TABLE) >= 150
    assert len({text for text, _ in TABLE}) == len(TABLE)
    kinds = [None if e is None else e[0] for _, e in TABLE]
    assert kinds.count("command") >= 60 and kinds.count(None) >= 70 and kinds.count("malformed") >= 5


@pytest.mark.parametrize("text, expected", TABLE, ids=[t or "(empty)" for t, _ in TABLE])
def test_every_line_is_recognised_as_the_table_says(text, expected):
    assert recognise(text) == expected
