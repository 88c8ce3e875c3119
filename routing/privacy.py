"""Personal data in request text: found and masked before it leaves the village room."""

from __future__ import annotations

import re

# Not preceded or followed by another digit, so that longer numbers are not cut in pieces.
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_ID18 = re.compile(r"(?<![\dA-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![\dA-Za-z])")


def mask(text: str) -> str:
    """Text with phone numbers and ID numbers masked: 138****5678, 522228********0019."""
    text = _ID18.sub(_mask_id, text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def _mask_id(m: re.Match[str]) -> str:
    full = m.group(1) + m.group(2) + m.group(3)
    return full[:6] + "*" * 8 + full[-4:]


def mask_name(name: str | None) -> str | None:
    """A person's name with all but its first character hidden: 唐命学 -> 唐**."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)
