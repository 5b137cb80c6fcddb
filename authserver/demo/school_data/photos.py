"""Photos: a placeholder image for every pupil and member of staff, and a few contacts."""

from __future__ import annotations

import base64
import datetime as dt

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.students import Roll
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import Photo

# A 1x1 transparent PNG: the demo needs a photo in every row, not a likeness.
PLACEHOLDER_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode("ascii")


def insert_photos(
    writer: Writer, year: AcademicYear, *, roll: Roll, staff_ids: list[int], contact_ids: list[int]
) -> None:
    """School photographs, taken early in the autumn term."""
    taken = year.start + dt.timedelta(days=10)
    people = [
        *(("student", p.id) for p in roll.current),
        *(("staff", sid) for sid in staff_ids),
        *(("contact", cid) for cid in contact_ids[:10]),
    ]
    writer.insert(
        Photo,
        [
            {
                "person_type": kind,
                "person_id": person_id,
                "content_type": "image/png",
                "content": PLACEHOLDER_PNG,
                "taken_on": taken,
            }
            for kind, person_id in people
        ],
    )
