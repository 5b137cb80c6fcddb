"""The public page for families: which applications a school uses, and what each receives."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from authserver.domain import transparency
from authserver.extensions import db
from authserver.models.organisations import School
from consent.signin import same_for_everyone

bp = Blueprint("transparency", __name__)

#: Long enough to spare the database a crowd of visitors after a letter home, short enough
#: that a withdrawal shows within minutes; after that a browser or cache asks again with the
#: ETag, and the answer is 304 until a decision changes the page.
PUBLIC_PAGE_MAX_AGE_SECONDS = 300


@bp.get("/schools/<urn>/privacy")
def privacy_page(urn: str) -> Response:
    """The school's applications in use, for families; no sign-in, the same for everyone."""
    same_for_everyone()
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None:
        abort(
            404,
            description="No school with that URN uses School Data Access. Check the address "
            "on your school's privacy notice, or ask the school.",
        )
    page = transparency.public_page_of(school)
    response = Response(render_template("privacy/school.html", page=page), mimetype="text/html")
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_PAGE_MAX_AGE_SECONDS}"
    # The ETag is the page's own digest: whatever changes what families read (a decision, a
    # renamed application, a closure) changes it, and nothing else does.
    response.add_etag()
    return response.make_conditional(request)
