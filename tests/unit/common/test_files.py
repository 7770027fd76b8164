"""common.files' control-character pattern is Unicode's general category Cc, code point for
code point (the file-name check and the MIME check refuse exactly those)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from common.errors import InvalidArgument
from common.files import CONTROL_CHARACTER, guess_mime, validate_file_name


def test_the_pattern_is_exactly_unicodes_control_characters() -> None:
    pattern = {cp for cp in range(sys.maxunicode + 1) if CONTROL_CHARACTER.match(chr(cp))}
    category = {cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Cc"}
    assert pattern == category
    assert len(pattern) == 65


@pytest.mark.parametrize("name", ["a\x00b", "tab\there", "del\x7f", "c1\x85x", "end\x9f"])
def test_a_name_with_a_control_character_is_refused(name: str) -> None:
    with pytest.raises(InvalidArgument, match="control characters"):
        validate_file_name(name)


@pytest.mark.parametrize("name", ["report.pdf", "ünïcödé ☃.txt", "\xa0nbsp", "x" * 255])
def test_other_names_pass(name: str) -> None:
    assert validate_file_name(name) == name


def test_a_declared_type_with_a_control_character_is_replaced_by_a_guess() -> None:
    assert guess_mime("a.txt", "text/plain\x01") == "text/plain"
    assert guess_mime("a.txt", "text/csv") == "text/csv"
