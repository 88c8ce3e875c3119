"""The one text normaliser: its fast paths give exactly what folding character by character gives."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.text import fold


def by_character(text: str) -> tuple[str, list[int]]:
    """The definition: each character NFKC-folded, format characters dropped, white space runs one space."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for f in unicodedata.normalize("NFKC", ch):
            if unicodedata.category(f) == "Cf":
                continue
            if f.isspace():
                if out and out[-1] == " ":
                    continue
                f = " "
            out.append(f)
            origin.append(i)
    return "".join(out), origin


CHAT = " \n\t\u3000\u2005\r\u00a0ab一二12，。！０Ａ①㈠\u200b\ufeffｶﾟ\u0301é路灯"


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=60) | st.text(alphabet=CHAT, max_size=60))
def test_fold_is_nfkc_character_by_character(text):
    folded = fold(text)
    assert (folded.text, list(folded.origin)) == by_character(text)
