"""Honest names: what vendors call themselves and their applications is visible text, does not
imitate another vendor's verified application, and claims no school's or public body's
endorsement.

The lookalike comparison works on a "skeleton" in the spirit of Unicode TR39: NFKC, casefold,
accents dropped, the common lookalikes below mapped to one letter, spaces and punctuation
removed. No well-kept Python library offers TR39's skeleton itself (confusable-homoglyphs checks
mixed scripts, not skeletons), so the table below is ours: the Latin lookalikes seen in
impersonation (Cyrillic and Greek letters, digits for letters, `rn` for `m`). It errs towards
refusing: two names it confuses would be confused by a person too, or nearly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Unicode categories that show nothing (or move text about): control and format characters,
#: among them bidirectional overrides and isolates and zero-width characters.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
#: Letters that render as blank space although Unicode files them as letters or symbols.
BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")
#: What a multi-line field (a description) may hold beyond visible text.
LINE_BREAKS = frozenset("\n\r\t")

# One letter for each family of lookalikes, applied after NFKC and casefold.
LOOKALIKES = str.maketrans(
    {
        # Digits and symbols standing in for letters.
        "0": "o",
        "1": "l",
        "|": "l",
        "i": "l",  # "I" and "l" are one glyph in many fonts; casefold makes "I" "i"
        "5": "s",
        "$": "s",
        "@": "a",
        # Cyrillic.
        "\u0430": "a",  # cyrillic small letter a
        "\u0432": "b",  # cyrillic small letter ve
        "\u0435": "e",  # cyrillic small letter ie
        "\u0451": "e",  # cyrillic small letter io
        "\u04bb": "h",  # cyrillic small letter shha
        "\u043d": "h",  # cyrillic small letter en
        "\u0456": "l",  # cyrillic small letter byelorussian-ukrainian i
        "\u0457": "l",  # cyrillic small letter yi
        "\u04cf": "l",  # cyrillic small letter palochka
        "\u0458": "j",  # cyrillic small letter je
        "\u043a": "k",  # cyrillic small letter ka
        "\u043c": "m",  # cyrillic small letter em
        "\u043e": "o",  # cyrillic small letter o
        "\u0440": "p",  # cyrillic small letter er
        "\u051b": "q",  # cyrillic small letter qa
        "\u0441": "c",  # cyrillic small letter es
        "\u0455": "s",  # cyrillic small letter dze
        "\u0442": "t",  # cyrillic small letter te
        "\u0443": "y",  # cyrillic small letter u
        "\u04af": "y",  # cyrillic small letter straight u
        "\u051d": "w",  # cyrillic small letter we
        "\u0445": "x",  # cyrillic small letter ha
        "\u0501": "d",  # cyrillic small letter komi de
        "\u0261": "g",  # latin small letter script g
        # Greek.
        "\u03b1": "a",  # greek small letter alpha
        "\u03b2": "b",  # greek small letter beta
        "\u03b5": "e",  # greek small letter epsilon
        "\u03b7": "n",  # greek small letter eta
        "\u03b9": "l",  # greek small letter iota
        "\u03ba": "k",  # greek small letter kappa
        "\u03bd": "v",  # greek small letter nu
        "\u03bf": "o",  # greek small letter omicron
        "\u03c1": "p",  # greek small letter rho
        "\u03c4": "t",  # greek small letter tau
        "\u03c5": "u",  # greek small letter upsilon
        "\u03c7": "x",  # greek small letter chi
        "\u03b6": "z",  # greek small letter zeta
    }
)
MULTI_LETTER_LOOKALIKES = (("rn", "m"), ("vv", "w"))

#: Claims of endorsement refused in names and descriptions: no school or public body endorses an
#: application here, each school decides for itself. Each rule with what it catches.
ENDORSEMENT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "approved, endorsed, recommended, accredited, certified, sponsored, commissioned, "
        "authorised or backed by someone",
        re.compile(
            r"\b(approved|endorsed|recommended|accredited|certified|sponsored|commissioned"
            r"|authori[sz]ed|backed|trusted|chosen|verified)\s+by\b"
        ),
    ),
    (
        "a body's approval, such as 'DfE approved' or 'school-endorsed'",
        re.compile(
            r"\b(dfe|department\s+for\s+education|ofsted|esfa|government|gov\.uk|nhs|schools?"
            r"|councils?|trusts?|academy|academies|local\s+authority|la)\W{0,3}"
            r"(approved|endorsed|recommended|accredited|certified|backed|sanctioned)\b"
        ),
    ),
    (
        "an 'official' app, partner or provider",
        re.compile(
            r"\bofficial\b(?:\W+\w+){0,6}?\W+(app|apps|application|applications|partner"
            r"|provider|supplier|platform|tool)\b"
        ),
    ),
)


class NameRefused(ValueError):
    """A name or description that is not honest; `field` names what it was about."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _describe(character: str) -> str:
    name = unicodedata.name(character, "an unnamed character")
    return f"U+{ord(character):04X} {name}"


def invisible_characters(text: str, *, multiline: bool = False) -> list[str]:
    """The characters of `text` that show nothing or reorder what is shown, in order."""
    return [
        c
        for c in text
        if (unicodedata.category(c) in INVISIBLE_CATEGORIES or c in BLANK_LOOKING)
        and not (multiline and c in LINE_BREAKS)
    ]


def check_visible(text: str, *, field: str, label: str, multiline: bool = False) -> str:
    """Refuse text with control, format (bidirectional, zero-width) or blank-looking
    characters; `label` names the field in the message ("The application name")."""
    hidden = invisible_characters(text, multiline=multiline)
    if hidden:
        first = _describe(hidden[0])
        more = f" and {len(hidden) - 1} more" if len(hidden) > 1 else ""
        raise NameRefused(
            f"{label} contains a hidden or control character ({first}{more}): "
            "type it again without it, using only visible letters, digits, spaces and "
            "punctuation",
            field=field,
        )
    return text


def endorsement_claimed(text: str) -> str | None:
    """The words of `text` that claim an endorsement, or None."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    for _, pattern in ENDORSEMENT_RULES:
        match = pattern.search(folded)
        if match:
            return match.group(0)
    return None


def check_no_endorsement(text: str, *, field: str, label: str) -> str:
    """Refuse text that claims a school's or a public body's endorsement."""
    claimed = endorsement_claimed(text)
    if claimed:
        raise NameRefused(
            f"{label} must not claim an endorsement (“{claimed}”): each school decides "
            "for itself, and no school or public body endorses an application here",
            field=field,
        )
    return text


def check_honest(text: str, *, field: str, label: str, multiline: bool = False) -> str:
    """Both checks of text shown to schools: visible, and claiming no endorsement."""
    check_visible(text, field=field, label=label, multiline=multiline)
    return check_no_endorsement(text, field=field, label=label)


def skeleton(text: str) -> str:
    """What a name looks like, for comparison: two names with one skeleton can be mistaken
    for each other."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    bare = "".join(
        c for c in unicodedata.normalize("NFD", folded) if unicodedata.category(c) != "Mn"
    )
    mapped = bare.translate(LOOKALIKES)
    kept = "".join(c for c in mapped if c.isalnum())
    for letters, letter in MULTI_LETTER_LOOKALIKES:
        kept = kept.replace(letters, letter)
    return kept


def imitated(name: str, others: Iterable[str]) -> str | None:
    """The first of `others` that `name` looks like, or None."""
    own = skeleton(name)
    if not own:
        return None
    return next((other for other in others if skeleton(other) == own), None)
