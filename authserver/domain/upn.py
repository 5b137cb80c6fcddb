"""Unique Pupil Numbers: the DfE's 13-character pupil identifier and its check letter."""

from __future__ import annotations

from stdnum.exceptions import InvalidComponent, ValidationError
from stdnum.gb import upn as upn_number

#: Wales's local authority codes (Isle of Anglesey 660 to Cardiff 681), under which Welsh
#: schools allocate UPNs; python-stdnum knows England's only.
WELSH_LA_CODES = range(660, 682)


def valid_upn(value: str) -> bool:
    """Whether `value` is a UPN: its form, its local authority's code and its check letter
    (permanent, or temporary ending in a letter)."""
    try:
        upn_number.validate(value)
    except InvalidComponent:
        return (
            value[1:4].isdigit()
            and int(value[1:4]) in WELSH_LA_CODES
            and upn_number.calc_check_digit(value[1:]) == value[0]
        )
    except ValidationError:
        return False
    return True
