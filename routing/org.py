"""The county's tier tree: units, their rooms and their handlers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from routing.model import PersonRef, Role, Tier


class RoomKind(str, enum.Enum):
    """What a configured room is for."""

    VILLAGE = "village"
    TOWNSHIP = "township"
    LEADERS = "leaders"
    COUNTY = "county"

    @property
    def tier(self) -> Tier:
        """The tier whose requests this room deals with."""
        return {
            RoomKind.VILLAGE: Tier.VILLAGE,
            RoomKind.TOWNSHIP: Tier.TOWNSHIP,
            RoomKind.LEADERS: Tier.TOWNSHIP,
            RoomKind.COUNTY: Tier.COUNTY,
        }[self]


@dataclass(frozen=True, slots=True)
class Member:
    """A configured handler: display name, optional WeChat id, role and unit."""

    name: str
    role: Role
    township: str | None = None
    village: str | None = None
    wechat_id: str | None = None

    @property
    def ref(self) -> PersonRef:
        """The member as a mentionable person."""
        return PersonRef(self.name, self.wechat_id)

    @property
    def unit(self) -> str:
        """The unit the member belongs to: "盘信镇/楼台村", "盘信镇", or "" for the county."""
        return unit_key(self.township, self.village)

    @property
    def unit_name(self) -> str:
        """The unit as people write it: 盘信镇楼台村, 盘信镇, or 县级."""
        return f"{self.township or ''}{self.village or ''}" or "县级"


def unit_key(township: str | None, village: str | None) -> str:
    """A unit's key: "township/village" for a village, the township's name, "" for the county."""
    if village:
        return f"{township}/{village}"
    return township or ""


@dataclass(frozen=True, slots=True)
class Village:
    """A village and its 干群连心群."""

    name: str
    township: str
    room: str
    cadres: tuple[Member, ...] = ()


@dataclass(frozen=True, slots=True)
class Township:
    """A township, its work group and its leaders' group."""

    name: str
    room: str
    leaders_room: str | None
    staff: tuple[Member, ...] = ()
    leaders: tuple[Member, ...] = ()
    villages: tuple[Village, ...] = ()


@dataclass(frozen=True, slots=True)
class Place:
    """What the bot knows about a configured room."""

    room: str
    kind: RoomKind
    township: str | None = None
    village: str | None = None

    @property
    def tier(self) -> Tier:
        """The tier of requests this room deals with."""
        return self.kind.tier

    @property
    def unit(self) -> str:
        """The unit whose room this is (a township's work and leaders' rooms are both the township's)."""
        return unit_key(self.township, self.village)


@dataclass(slots=True)
class County:
    """The whole deployment: one county with its townships and villages."""

    name: str
    room: str
    staff: tuple[Member, ...] = ()
    townships: tuple[Township, ...] = ()
    _places: dict[str, Place] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        places = {self.room: Place(self.room, RoomKind.COUNTY)}
        for t in self.townships:
            places[t.room] = Place(t.room, RoomKind.TOWNSHIP, t.name)
            if t.leaders_room:
                places[t.leaders_room] = Place(t.leaders_room, RoomKind.LEADERS, t.name)
            for v in t.villages:
                places[v.room] = Place(v.room, RoomKind.VILLAGE, t.name, v.name)
        self._places = places

    def place(self, room: str) -> Place | None:
        """The configured room of that name, or None for a room the bot does not serve."""
        return self._places.get(room)

    @property
    def rooms(self) -> list[str]:
        """Every configured room."""
        return list(self._places)

    def township(self, name: str) -> Township:
        """The township of that name (KeyError when unknown)."""
        for t in self.townships:
            if t.name == name:
                return t
        raise KeyError(name)

    def village(self, township: str, name: str) -> Village:
        """The village of that name in that township (KeyError when unknown)."""
        for v in self.township(township).villages:
            if v.name == name:
                return v
        raise KeyError(f"{township}/{name}")

    def villages(self) -> list[Village]:
        """Every village of the county."""
        return [v for t in self.townships for v in t.villages]

    def members(self) -> list[Member]:
        """Every configured handler."""
        out = list(self.staff)
        for t in self.townships:
            out += t.staff + t.leaders
            for v in t.villages:
                out += v.cadres
        return out

    def room_for(self, tier: Tier, township: str, village: str) -> str:
        """The room where requests of that branch are handled at that tier."""
        if tier is Tier.VILLAGE:
            return self.village(township, village).room
        if tier is Tier.TOWNSHIP:
            return self.township(township).room
        return self.room

    def handlers_at(self, tier: Tier, township: str, village: str) -> list[Member]:
        """The people who handle requests of that branch at exactly that tier."""
        if tier is Tier.VILLAGE:
            return list(self.village(township, village).cadres)
        if tier is Tier.TOWNSHIP:
            return list(self.township(township).staff)
        return list(self.staff)

    def leaders_room(self, township: str) -> str:
        """Where a township's leaders get their digest (the work group when none is set)."""
        t = self.township(township)
        return t.leaders_room or t.room
