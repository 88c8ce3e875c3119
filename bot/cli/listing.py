"""The request listing of `minqing list --json` (a contract: see the design, section 4)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from routing.model import Request
from routing.privacy import mask, mask_name


def iso(when: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 in the configured timezone, or None."""
    return when.astimezone(tz).isoformat() if when else None


def minute(when: datetime | None, tz: ZoneInfo) -> str:
    """A time as the tables show it (2026-10-12 09:00, local), or a dash."""
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M") if when else "—"


def request_json(r: Request, tz: ZoneInfo, *, unmask: bool = False) -> dict:
    """One request as the listing shows it; the requester's name and the numbers in the text masked unless `unmask`."""
    return {
        "id": r.number,
        "status": r.status.value,
        "tier": r.tier.key,
        "village": r.village,
        "township": r.township,
        "handler": r.handler,
        "category": r.category,
        "urgent": r.urgent,
        "requester": r.requester if unmask else mask_name(r.requester),
        "text": r.text if unmask else mask(r.text),
        "created_at": iso(r.created_at, tz),
        "acknowledged_at": iso(r.acknowledged_at, tz),
        "escalated_at": iso(r.escalated_at, tz),
        "resolved_at": iso(r.resolved_at, tz),
        "closed_at": iso(r.closed_at, tz),
        "rating": r.rating.value if r.rating else None,
        "reopened": r.reopened,
        "ack_due_at": iso(r.ack_due_at, tz),
        "resolve_due_at": iso(r.resolve_due_at, tz),
    }
