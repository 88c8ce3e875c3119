"""Rules as data: intake, SLA deadlines, escalation and digest schedules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from routing.durations import Duration
from routing.notices import NoticeRules
from routing.rates import DEFAULT_SCORING, Scoring
from routing.workcal import WorkCalendar


@dataclass(frozen=True, slots=True)
class Intake:
    """When a message in a village room registers a request."""

    on_mention: bool = True
    triggers: tuple[str, ...] = ("求助", "反映", "诉求", "报修", "投诉", "咨询", "申请")


@dataclass(frozen=True, slots=True)
class Sla:
    """How long each tier has to acknowledge and resolve a request."""

    acknowledge: Duration = Duration.parse("1 workdays")
    resolve: Duration = Duration.parse("5 workdays")
    urgent_acknowledge: Duration = Duration.parse("2 hours")
    urgent_resolve: Duration = Duration.parse("1 workdays")
    remind_every: Duration = Duration.parse("1 workdays")
    rating_window: Duration = Duration.parse("3 days")
    category_acknowledge: dict[str, Duration] = field(default_factory=dict)
    category_resolve: dict[str, Duration] = field(default_factory=dict)

    def acknowledge_for(self, category: str, urgent: bool) -> Duration:
        """The acknowledge deadline that applies; urgency overrides category."""
        if urgent:
            return self.urgent_acknowledge
        return self.category_acknowledge.get(category, self.acknowledge)

    def resolve_for(self, category: str, urgent: bool) -> Duration:
        """The resolve deadline that applies; urgency overrides category."""
        if urgent:
            return self.urgent_resolve
        return self.category_resolve.get(category, self.resolve)


@dataclass(frozen=True, slots=True)
class Escalation:
    """When the bot proposes and performs escalation from the village tier."""

    propose_after: Duration = Duration.parse("1 workdays")
    auto_after: Duration | None = Duration.parse("1 workdays")
    direct_to_township: frozenset[str] = frozenset()
    # categories whose requests are confidential (shared/design.md, section 8): straight to the township,
    # the village room learns only the number, everything else goes to the requester privately
    confidential: frozenset[str] = frozenset({"纪检监察"})


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """When digests go out: daily to township leaders, weekly to the county."""

    township_daily: time | None = time(8, 30)
    county_weekday: int = 0  # Monday
    county_time: time | None = time(9, 0)


@dataclass(frozen=True, slots=True)
class Policy:
    """Every rule the service applies, loaded and validated from the config."""

    bot_name: str
    calendar: WorkCalendar
    intake: Intake = Intake()
    sla: Sla = Sla()
    escalation: Escalation = Escalation()
    digest: DigestSchedule = DigestSchedule()
    scoring: Scoring = DEFAULT_SCORING  # how digests and reports rank and flag units
    notices: NoticeRules = NoticeRules()

    def deadlines(self, since: datetime, category: str, urgent: bool) -> tuple[datetime, datetime]:
        """Acknowledge and resolve deadlines of a tier clock that starts at `since`."""
        cal = self.calendar
        return (
            cal.add(since, self.sla.acknowledge_for(category, urgent)),
            cal.add(since, self.sla.resolve_for(category, urgent)),
        )
