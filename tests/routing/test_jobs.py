"""What is due when: proposals, automatic escalation, reminders, rating windows, digest slots."""

from datetime import timedelta

import pytest

from routing.jobs import Digest, Job, due_jobs, last_slot, next_request_due, next_slot, remind_at
from routing.model import Status, Tier
from tests.conftest import config_with
from tests.fakes import local
from tests.storage.test_repository import make_request


@pytest.fixture
def policy(example_config):
    return example_config.policy


def req(**kw):
    t0 = local("2026-10-12 09:00")
    base = dict(created_at=t0, tier_since=t0, ack_due_at=local("2026-10-13 09:00"),
                resolve_due_at=local("2026-10-19 09:00"), first_ack_due_at=local("2026-10-13 09:00"))
    base.update(kw)
    return make_request(1, **base)


def test_proposal_then_automatic_escalation(policy):
    r = req()
    assert due_jobs(r, policy, local("2026-10-13 08:59")) == []
    # the acknowledge deadline and the proposal fall together: the proposal pre-empts the reminder
    assert due_jobs(r, policy, local("2026-10-13 09:00")) == [Job.PROPOSE]
    r.proposed_at = r.last_reminded_at = local("2026-10-13 09:00")
    assert next_request_due(r, policy, local("2026-10-13 09:00")) == local("2026-10-14 09:00")
    assert due_jobs(r, policy, local("2026-10-14 09:00")) == [Job.AUTO_ESCALATE]


def test_only_open_village_requests_are_proposed(policy):
    assert due_jobs(req(status=Status.ACKNOWLEDGED, handler="石支书"), policy, local("2026-10-13 09:00")) == []
    assert Job.PROPOSE not in due_jobs(req(tier=Tier.TOWNSHIP), policy, local("2026-10-13 09:00"))


def test_no_automatic_escalation_when_auto_after_is_empty():
    policy = config_with(replace={'auto_after = "1 workdays"': 'auto_after = ""'}).policy
    r = req(proposed_at=local("2026-10-13 09:00"), last_reminded_at=local("2026-10-13 09:00"))
    assert Job.AUTO_ESCALATE not in due_jobs(r, policy, local("2026-10-20 09:00"))


def test_reminders_at_the_deadline_then_at_most_once_per_remind_every(policy):
    r = req(tier=Tier.TOWNSHIP, status=Status.ACKNOWLEDGED, handler="杨主任")
    assert remind_at(r, policy) == local("2026-10-19 09:00")
    r.last_reminded_at = local("2026-10-19 09:00")
    assert remind_at(r, policy) == local("2026-10-20 09:00")
    # an urge before the deadline does not delay the first reminder past the deadline ...
    r.last_reminded_at = local("2026-10-12 10:00")
    assert remind_at(r, policy) == local("2026-10-19 09:00")
    # ... and an urge after it counts as the reminder
    r.last_reminded_at = local("2026-10-19 15:00")
    assert remind_at(r, policy) == local("2026-10-20 15:00")


def test_no_reminders_once_resolved_or_closed(policy):
    for status in (Status.RESOLVED, Status.CLOSED, Status.REJECTED):
        assert remind_at(req(status=status), policy) is None


def test_rating_window_closes_a_resolution(policy):
    r = req(status=Status.RESOLVED, resolved_at=local("2026-10-12 16:00"))
    assert due_jobs(r, policy, local("2026-10-15 15:59")) == []
    assert due_jobs(r, policy, local("2026-10-15 16:00")) == [Job.EXPIRE]


def test_daily_digest_slots_are_working_days_only(policy):
    t = local("2026-09-29 09:00")
    slots = []
    for _ in range(5):
        t = next_slot(policy, Digest.TOWNSHIP_DAILY, t)
        slots.append(t)
    # Sep 30, then the National Day holiday, Oct 8, 9, the make-up Saturday Oct 10, Monday Oct 12
    assert [s.strftime("%m-%d %H:%M") for s in slots] == ["09-30 08:30", "10-08 08:30", "10-09 08:30",
                                                          "10-10 08:30", "10-12 08:30"]


def test_weekly_digest_on_a_holiday_goes_out_on_the_next_working_day(policy):
    t = next_slot(policy, Digest.COUNTY_WEEKLY, local("2026-09-29 00:00"))
    assert t == local("2026-10-08 09:00")  # Monday Oct 5 is a holiday
    assert next_slot(policy, Digest.COUNTY_WEEKLY, t) == local("2026-10-12 09:00")
    assert last_slot(policy, Digest.COUNTY_WEEKLY, local("2026-10-11 12:00")) == local("2026-10-08 09:00")


def test_weekly_digest_across_the_new_year_fallback(policy):
    # 2027 is beyond chinese_calendar: Monday 4 Jan is a working day in the fallback
    assert next_slot(policy, Digest.COUNTY_WEEKLY, local("2026-12-29 00:00")) == local("2027-01-04 09:00")
    assert next_slot(policy, Digest.TOWNSHIP_DAILY, local("2026-12-31 09:00")) == local("2027-01-04 08:30")


def test_digests_can_be_switched_off():
    policy = config_with(replace={'township_daily = "08:30"': 'township_daily = ""',
                                  'county_weekly = "MON 09:00"': 'county_weekly = ""'}).policy
    assert next_slot(policy, Digest.TOWNSHIP_DAILY, local("2026-10-12 00:00")) is None
    assert next_slot(policy, Digest.COUNTY_WEEKLY, local("2026-10-12 00:00")) is None


def test_next_due_is_strictly_after(policy):
    r = req()
    due = next_request_due(r, policy, local("2026-10-12 09:00"))
    assert due == local("2026-10-13 09:00")
    assert next_request_due(r, policy, due - timedelta(seconds=1)) == due
    r.proposed_at = r.last_reminded_at = due  # what the tick at `due` does
    assert next_request_due(r, policy, due) == local("2026-10-14 09:00")
