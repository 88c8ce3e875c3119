"""The test gateway's county (tests/gateway/fixtures/county.json) is the example config's county."""

from __future__ import annotations

from gateway_harness import DEFAULT_FIXTURE

from bot.config import load_config
from tests.conftest import EXAMPLE


def test_the_fixture_has_every_room_and_handler_of_the_example_config() -> None:
    config = load_config(EXAMPLE)
    county = config.county
    people = {p["name"]: p["id"] for p in DEFAULT_FIXTURE["people"]}
    rooms = {r["topic"]: r for r in DEFAULT_FIXTURE["rooms"]}
    assert DEFAULT_FIXTURE["bot"]["name"] == config.raw.bot.name

    assert set(county.rooms) <= set(rooms)
    assert set(rooms) - set(county.rooms) == {"楼台村广场舞群"}  # one group the bot is in but does not serve

    def members(room: str) -> set[str]:
        return set(rooms[room]["members"])

    for m in county.members():
        assert m.name in people, f"{m.name} is not in the fixture"
        if m.wechat_id:
            assert people[m.name] == m.wechat_id, f"{m.name}'s wechat_id differs from the fixture's"
    for v in county.villages():
        assert {m.name for m in v.cadres} <= members(v.room), v.room
    for t in county.townships:
        assert {m.name for m in t.staff} <= members(t.room), t.room
        assert {m.name for m in t.leaders} <= members(t.leaders_room), t.leaders_room
    assert {m.name for m in county.staff} <= members(county.room)
