"""The one slug function (``publisher.model.slug``) and the four names it makes.

Article slugs and subhead ids keep every script; output file stems, the mailing list's
name and the email's image files are ASCII, as they always were: each row is what one
name was before the four slug functions became one, so none of them changes (a file
stem names the public URLs; the list's name is inside every unsubscribe token).
"""

from __future__ import annotations

import pytest

from publisher.deliver import tokens
from publisher.model import Publication, slug

#: text -> (article slug or subhead id, file stem, mailing list, email image stem)
NAMES = {
    "United Response": ("united-response",) * 4,
    "  --Hello, World!--  ": ("hello-world",) * 4,
    "Café": ("cafe", "caf", "caf", "caf"),
    "김치 Days": ("김치-days", "days", "days", "days"),
    "서울": ("서울", "issue", "list", "image"),
    "Straße": ("straße", "stra-e", "strasse", "stra-e"),
    "ﬁsh ﬂat": ("fish-flat", "sh-at", "fish-flat", "sh-at"),
    "Ｆｕｌｌ ①": ("full-1", "issue", "list", "image"),
    "Ǆemal Ωmega": ("dzemal-ωmega", "emal-mega", "emal-mega", "emal-mega"),
    "a__b": ("a__b", "a-b", "a-b", "a-b"),
    "x - _ y": ("x-_-y", "x-y", "x-y", "x-y"),
    "___": ("section", "issue", "list", "image"),
    "": ("section", "issue", "list", "image"),
    "x" * 300: ("x" * 300,) * 4,  # no length limit
}


def _publication(title: str) -> Publication:
    return Publication(title, "", "en", "https://example.org", "", "", "")


@pytest.mark.parametrize("text", sorted(NAMES))
def test_each_name_made_from_a_text(text: str) -> None:
    article, stem, mailing_list, image = NAMES[text]
    assert slug(text, default="section") == article
    assert _publication(text).file_stem == stem
    assert tokens.list_id(_publication(text)) == mailing_list
    assert slug(text, default="image", ascii_only=True) == image


def test_a_hangul_syllable_stays_one_character() -> None:
    """Decomposed, 한 is three conjoining jamo: no editor types those in a link."""
    assert slug("한국 Days", default="section") == "한국-days"
    assert len(slug("한", default="section")) == 1
