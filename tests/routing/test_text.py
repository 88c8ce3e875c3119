"""The one text normaliser: its fast paths give exactly what folding character by character gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.text import by_character, fold


CHAT = " \n\t\u3000\u2005\r\u00a0ab一二12，。！０Ａ①㈠\u200b\ufeffｶﾟ\u0301é路灯"


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=60) | st.text(alphabet=CHAT, max_size=60))
def test_fold_is_nfkc_character_by_character(text):
    folded = fold(text)
    slow = by_character(text)
    assert (folded.text, list(folded.origin)) == (slow.text, list(slow.origin))
