"""The DfE codes a CTF carries and the words our records hold for them, both ways.

A code we do not know is kept as it stands (never dropped); a word with no code is written as
it stands. The words are those the demo school and the resource API use.
"""

from __future__ import annotations

GENDERS = {"M": "Male", "F": "Female"}


ETHNICITIES = {
    "WBRI": "White - British",
    "WIRI": "White - Irish",
    "WIRT": "White - Traveller of Irish heritage",
    "WROM": "White - Gypsy/Roma",
    "WOTH": "White - Any other White background",
    "MWBC": "Mixed - White and Black Caribbean",
    "MWBA": "Mixed - White and Black African",
    "MWAS": "Mixed - White and Asian",
    "MOTH": "Mixed - Any other mixed background",
    "AIND": "Asian or Asian British - Indian",
    "APKN": "Asian or Asian British - Pakistani",
    "ABAN": "Asian or Asian British - Bangladeshi",
    "AOTH": "Asian or Asian British - Any other Asian background",
    "BCRB": "Black or Black British - Caribbean",
    "BAFR": "Black or Black British - African",
    "BOTH": "Black or Black British - Any other Black background",
    "CHNE": "Chinese",
    "OOTH": "Any other ethnic group",
    "REFU": "Refused",
    "NOBT": "Information not yet obtained",
}

LANGUAGES = {
    "ENG": "English",
    "ARA": "Arabic",
    "BNG": "Bengali",
    "CHIC": "Cantonese",
    "CHIM": "Mandarin",
    "GUJ": "Gujarati",
    "KUR": "Kurdish",
    "LIT": "Lithuanian",
    "PNJ": "Punjabi",
    "POL": "Polish",
    "POR": "Portuguese",
    "RMN": "Romanian",
    "SOM": "Somali",
    "SPA": "Spanish",
    "TAM": "Tamil",
    "TUR": "Turkish",
    "URD": "Urdu",
    "WEL": "Welsh",
    "YOR": "Yoruba",
}

ENROLMENT_STATUSES = {
    "C": "current",
    "M": "dual (main)",
    "S": "dual (subsidiary)",
    "G": "guest",
    "O": "other provision",
}

#: CTF SENprovision: N (none), K (SEN support), E (EHC plan), S (statement).
SEN_PROVISIONS = {"N": None, "K": "SEN support", "E": "EHC plan", "S": "Statement"}

#: CTF SENtype codes, with the casing and words our `sen_need` rows use.
SEN_TYPES = {
    "SPLD": ("SpLD", "Specific learning difficulty (for example dyslexia)"),
    "MLD": ("MLD", "Moderate learning difficulty"),
    "SLD": ("SLD", "Severe learning difficulty"),
    "PMLD": ("PMLD", "Profound and multiple learning difficulty"),
    "SEMH": ("SEMH", "Social, emotional and mental health"),
    "SLCN": ("SLCN", "Speech, language and communication needs"),
    "HI": ("HI", "Hearing impairment"),
    "VI": ("VI", "Visual impairment"),
    "MSI": ("MSI", "Multi-sensory impairment"),
    "PD": ("PD", "Physical disability"),
    "ASD": ("ASD", "Autistic spectrum disorder"),
    "OTH": ("OTH", "Other difficulty or disability"),
    "NSA": ("NSA", "SEN support but no specialist assessment of type of need"),
}

#: Contact relationships with a code of their own; Mother, Father, Grandparent... have none
#: that keeps their meaning, so they travel as words.
RELATIONSHIPS = {
    "PAR": "Parent",
    "STP": "Step-parent",
    "FOS": "Foster carer",
    "CAR": "Carer",
    "REL": "Relative",
    "OTH": "Other",
}

#: Register codes by what they count as (DfE school attendance guidance).
APPROVED_ACTIVITY_CODES = frozenset("BDJKPVW")
LATE_CODES = frozenset("LU")
PRESENT_CODES = frozenset("/\\L")
AUTHORISED_CODES = frozenset("CEIMRST")
UNAUTHORISED_CODES = frozenset("GNOU")
#: Characters of a CTF marks string that are not a mark: '#' is a non-school day (the spec's
#: filler), '-' and ' ' a session with no mark recorded.
NOT_A_MARK = frozenset("#- ")


def word(codes: dict[str, str], code: str) -> str:
    """The word for a code, or the code itself when we do not know it."""
    return codes.get(code.strip().upper(), code)


def code(codes: dict[str, str], word: str) -> str:
    """The code for a word, or the word itself when it has none."""
    for key, value in codes.items():
        if value == word:
            return key
    return word
