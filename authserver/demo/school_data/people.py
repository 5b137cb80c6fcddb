"""Where the demo's people live, what they are called and how to reach them: all fictitious.

Telephone numbers come from Ofcom's ranges kept for drama and email addresses use reserved
example domains.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from authserver.demo.school_data.source import Source


class Place(NamedTuple):
    """A town and its local authority."""

    town: str
    county: str
    la_code: str
    authority: str


PLACES = [
    Place("Harrogate", "North Yorkshire", "815", "North Yorkshire Council"),
    Place("Stockport", "Greater Manchester", "356", "Stockport Council"),
    Place("Reading", "Berkshire", "870", "Reading Borough Council"),
    Place("Taunton", "Somerset", "933", "Somerset Council"),
    Place("Lincoln", "Lincolnshire", "925", "Lincolnshire County Council"),
    Place("Ipswich", "Suffolk", "935", "Suffolk County Council"),
    Place("Exeter", "Devon", "878", "Devon County Council"),
    Place("Shrewsbury", "Shropshire", "893", "Shropshire Council"),
]

# (ethnicity, weight, home languages other than English, share speaking one, usual religions)
BACKGROUNDS = [
    ("White - British", 66, (), 0.0, ("No religion", "Christian")),
    ("White - Irish", 1, (), 0.0, ("Christian", "No religion")),
    (
        "White - Any other White background",
        7,
        ("Polish", "Romanian", "Lithuanian", "Portuguese", "Spanish"),
        0.7,
        ("Christian", "No religion"),
    ),
    ("Asian or Asian British - Pakistani", 4, ("Urdu", "Punjabi"), 0.6, ("Muslim",)),
    (
        "Asian or Asian British - Indian",
        3.5,
        ("Gujarati", "Punjabi", "Tamil"),
        0.5,
        ("Hindu", "Sikh", "Muslim"),
    ),
    ("Asian or Asian British - Bangladeshi", 1.5, ("Bengali",), 0.6, ("Muslim",)),
    (
        "Black or Black British - African",
        4.5,
        ("Somali", "Yoruba", "Arabic"),
        0.4,
        ("Christian", "Muslim"),
    ),
    ("Black or Black British - Caribbean", 1, (), 0.0, ("Christian", "No religion")),
    ("Mixed - White and Black Caribbean", 1.5, (), 0.0, ("No religion", "Christian")),
    ("Mixed - White and Asian", 1.5, (), 0.0, ("No religion", "Muslim", "Christian")),
    ("Mixed - Any other mixed background", 2, (), 0.0, ("No religion", "Christian")),
    ("Chinese", 0.5, ("Cantonese", "Mandarin"), 0.5, ("No religion", "Buddhist")),
    (
        "Any other ethnic group",
        1.5,
        ("Arabic", "Kurdish", "Turkish"),
        0.5,
        ("Muslim", "Christian", "Any other religion"),
    ),
    ("Information not yet obtained", 1, (), 0.0, ("Information not yet obtained",)),
    ("Refused", 0.5, (), 0.0, ("Information refused",)),
]
ENGLISH_PROFICIENCY = [
    ("A - New to English", 5),
    ("B - Early acquisition", 10),
    ("C - Developing competence", 20),
    ("D - Competent", 30),
    ("E - Fluent", 35),
]
NICKNAMES = {
    "Alexander": "Alex", "Alexandra": "Alex", "Benjamin": "Ben", "Charlotte": "Charlie",
    "Christopher": "Chris", "Daniel": "Dan", "Elizabeth": "Beth", "Jessica": "Jess",
    "Joshua": "Josh", "Katherine": "Kate", "Matthew": "Matt", "Nicholas": "Nick", "Oliver": "Ollie",
    "Rebecca": "Becky", "Samuel": "Sam", "Thomas": "Tom", "William": "Will", "Jacob": "Jake",
    "Samantha": "Sam", "Victoria": "Tori", "Joseph": "Joe", "James": "Jamie", "Edward": "Ed",
    "Megan": "Meg", "Abigail": "Abi", "Frederick": "Freddie",
}  # fmt: skip


def background(source: Source) -> tuple[str, str, str]:
    """A coherent ethnicity, religion and first language for a family or a person."""
    weights = [background[1] for background in BACKGROUNDS]
    ethnicity, _, languages, share, religions = source.rng.choices(BACKGROUNDS, weights)[0]
    language = source.rng.choice(languages) if languages and source.chance(share) else "English"
    if source.chance(0.08):
        religion = "Information refused"
    else:
        religion = source.rng.choices(religions, weights=range(len(religions), 0, -1))[0]
    return ethnicity, religion, language


def initials(*names: str | None) -> str:
    """The first letters of the names given."""
    return "".join(name[0] for name in names if name)


def slug(name: str) -> str:
    """A name in lower case with hyphens, for a domain or an address."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def mobile(source: Source) -> str:
    """A mobile number from the range kept for drama."""
    return f"07700 900{source.rng.randint(0, 999):03d}"


def landline(source: Source) -> str:
    """A landline number from the range kept for drama."""
    return f"01632 960{source.rng.randint(0, 999):03d}"


def email(source: Source, forename: str, surname: str, domain: str = "example.com") -> str:
    """A personal email address at a reserved domain."""
    local = re.sub(r"[^a-z.]", "", f"{forename}.{surname}".lower())
    return f"{local}{source.rng.randint(1, 99)}@{domain}"


def address(source: Source, place: Place) -> dict[str, Any]:
    """A street address in the school's town, as the address columns of a row."""
    return {
        "address_line1": source.fake.street_address().replace("\n", ", "),
        "address_line2": None,
        "town": place.town,
        "county": place.county,
        "postcode": source.fake.postcode(),
    }
