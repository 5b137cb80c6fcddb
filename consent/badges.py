"""QR badges for pupils who cannot type a password: the class badge sheet (for the class's
teacher, signed in as a member, and for the school's admins), printed as a PDF, reissuing a
badge, and signing in by showing a badge to a shared device's camera."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from authserver import badge_sheets
from authserver.domain import badges, members
from authserver.domain.credentials import digest
from authserver.extensions import db, limiter
from authserver.models.members import MemberRole
from authserver.models.mis.structure import TeachingClass
from authserver.models.organisations import School
from consent.badge_forms import (
    BadgeSignInForm,
    PrintBadgesForm,
    ReissueClassForm,
    ReissuePupilForm,
)
from consent.member_signin import begin_member_session, current_member
from consent.signin import current_user

bp = Blueprint("badges", __name__)

BAD_BADGE = "That badge did not work. Ask your teacher for help: they can make you a new badge."


# Signing in with a badge ------------------------------------------------------------------


def _per_badge() -> str:
    return current_app.config["SETTINGS"].badge_sign_ins_per_badge


def _per_address() -> str:
    return current_app.config["SETTINGS"].badge_sign_in_failures_per_address


def _badge_key() -> str:
    """Count by the badge shown, under its digest: limiter keys may land in Redis, where a
    badge's secret must never be."""
    presented = (request.form.get("badge") or "")[: badges.MAX_SECRET_LENGTH]
    return "badge-sign-in:" + digest(presented)


def _refused(response: BaseResponse) -> bool:
    return response.status_code == 401


@bp.route("/members/badge", methods=["GET", "POST"])
# Every try with one badge counts against that badge; only refusals count against the address,
# which a classroom (often a whole school) shares: one child's old badge never locks out the rest.
@limiter.limit(_per_badge, key_func=_badge_key, methods=["POST"])
@limiter.limit(_per_address, methods=["POST"], deduct_when=_refused)
def sign_in() -> str | BaseResponse | tuple[str, int]:
    """The shared device's badge page: the camera reads a badge and posts it; the same answer
    for any badge that does not work."""
    form = BadgeSignInForm()
    error = None
    if request.method == "POST":
        member = badges.member_for(db.session, form.badge.data) if form.validate() else None
        if member is None:
            db.session.commit()  # a refused badge of ours is audited
            error = BAD_BADGE
        else:
            # A badge lives on a classroom's shared device: the session is the short kind.
            begin_member_session(member, method="qr", shared_device=True)
            badges.record_sign_in(db.session, member, form.badge.data)
            db.session.commit()
            return redirect(url_for("members.home"))
    page = render_template("badges/sign_in.html", form=form, error=error, badge_link=_badge_link())
    return (page, 401) if error else page


def _badge_link() -> str:
    """The link a badge's QR code holds, before the `#` and its secret (on the configured
    issuer, never the request's Host header)."""
    return current_app.config["SETTINGS"].issuer + url_for("badges.sign_in")


# The class badge sheet --------------------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    """Whose badge sheet this is, who is looking, and where its buttons lead."""

    school: School
    teaching_class: TeachingClass
    by: str
    can_make: bool
    url: Callable[..., str]
    back: str
    back_words: str


def _teacher_sheet(class_id: int) -> Sheet:
    """A class the signed-in teacher teaches; anything else is not found."""
    member = current_member()
    if member is None:
        abort(redirect(url_for("members.sign_in", next=request.full_path)))
    if member.role is not MemberRole.TEACHER or class_id not in members.classes_of(
        db.session, member
    ):
        abort(404)
    teaching_class = db.session.get(TeachingClass, class_id)
    school = db.session.get(School, member.school_id)
    if teaching_class is None or school is None:
        abort(404)
    return Sheet(
        school=school,
        teaching_class=teaching_class,
        by=member.email or f"member {member.id}",
        can_make=True,
        url=lambda action, **ids: url_for(f"badges.teacher_{action}", class_id=class_id, **ids),
        back=url_for("badges.teacher_classes"),
        back_words="Your classes",
    )


def _school_sheet(urn: str, class_id: int) -> Sheet:
    """A class of a school the signed-in admin looks after; making badges needs the right to
    manage it."""
    user = current_user()
    if user is None:
        abort(redirect(url_for("auth.sign_in", next=request.full_path)))
    school = _administered(urn)
    teaching_class = db.session.get(TeachingClass, class_id)
    if teaching_class is None or teaching_class.school_id != school.id:
        abort(404)
    return Sheet(
        school=school,
        teaching_class=teaching_class,
        by=user.email,
        can_make=user.can_manage_for(school),
        url=lambda action, **ids: url_for(
            f"badges.school_{action}", urn=urn, class_id=class_id, **ids
        ),
        back=url_for("badges.school_classes", urn=urn),
        back_words=f"Classes at {school.name}",
    )


def _administered(urn: str) -> School:
    user = current_user()
    if user is None:
        abort(redirect(url_for("auth.sign_in", next=request.full_path)))
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None or school.id not in user.administered_school_ids():
        abort(404)
    return school


def _sheet_page(
    sheet: Sheet, *, reissue_class: ReissueClassForm | None = None, status: int = 200
) -> tuple[str, int]:
    return (
        render_template(
            "badges/sheet.html",
            sheet=sheet,
            rows=badges.sheet(db.session, sheet.teaching_class),
            print_form=PrintBadgesForm(),
            reissue_pupil_form=ReissuePupilForm(),
            reissue_class_form=reissue_class or ReissueClassForm(formdata=None),
            badge_link=_badge_link(),
        ),
        status,
    )


def _may_make(sheet: Sheet) -> None:
    if not sheet.can_make:
        abort(403, "Only a colleague who may manage this school can make pupils' badges.")


def _badges_pdf(sheet: Sheet, made: list[badges.NewBadge]) -> Response:
    """The new badges as a PDF download, committed only once it is made (a secret is never
    stored, so a badge nobody could print must not replace a working one)."""
    label = sheet.teaching_class.code
    link = _badge_link()
    body = badge_sheets.render(
        [badge_sheets.PrintedBadge(b.name, label, f"{link}#{b.secret}") for b in made],
        school_name=sheet.school.name,
        title=f"Sign-in badges: {label}",
    )
    db.session.commit()
    response = Response(body, mimetype="application/pdf")
    filename = re.sub(r"[^A-Za-z0-9-]+", "-", label).strip("-") or "class"
    response.headers["Content-Disposition"] = f'attachment; filename="badges-{filename}.pdf"'
    return response


def _print(sheet: Sheet) -> BaseResponse:
    """Badges for every pupil of the class who has none (enrolled as members as needed)."""
    _may_make(sheet)
    made = badges.make_badges(db.session, sheet.teaching_class, by=sheet.by)
    if not made:
        db.session.rollback()
        flash(
            "Every pupil in this class already has a badge. To print one again, make that"
            " pupil a new badge below: their old badge stops working.",
            "success",
        )
        return redirect(sheet.url("sheet"), 303)
    return _badges_pdf(sheet, made)


def _reissue_class(sheet: Sheet) -> BaseResponse | tuple[str, int]:
    _may_make(sheet)
    form = ReissueClassForm()
    if not form.validate_on_submit():
        return _sheet_page(sheet, reissue_class=form, status=400)
    made = badges.make_badges(db.session, sheet.teaching_class, by=sheet.by, reissue=True)
    if not made:
        flash("There are no pupils in this class to make badges for.", "success")
        return redirect(sheet.url("sheet"), 303)
    return _badges_pdf(sheet, made)


def _reissue_pupil(sheet: Sheet, pupil_id: int) -> BaseResponse:
    _may_make(sheet)
    try:
        made = badges.make_badges(
            db.session, sheet.teaching_class, by=sheet.by, reissue=True, pupil_id=pupil_id
        )
    except badges.BadgeRefused:
        abort(404)
    return _badges_pdf(sheet, made)


# A teacher's pages (signed in as a member) ----------------------------------------------


@bp.get("/members/badges")
def teacher_classes() -> str | BaseResponse:
    """The classes the signed-in teacher teaches, each with its badge sheet."""
    member = current_member()
    if member is None:
        return redirect(url_for("members.sign_in", next=request.full_path))
    if member.role is not MemberRole.TEACHER:
        abort(404)
    ids = members.classes_of(db.session, member)
    classes = (
        db.session.scalars(
            select(TeachingClass).where(TeachingClass.id.in_(ids)).order_by(TeachingClass.code)
        ).all()
        if ids
        else []
    )
    return render_template(
        "badges/classes.html",
        school=db.session.get(School, member.school_id),
        classes=classes,
        sheet_url=lambda c: url_for("badges.teacher_sheet", class_id=c.id),
        heading="Your classes' sign-in badges",
    )


@bp.get("/members/classes/<int:class_id>/badges")
def teacher_sheet(class_id: int) -> tuple[str, int]:
    return _sheet_page(_teacher_sheet(class_id))


@bp.post("/members/classes/<int:class_id>/badges/print")
def teacher_print(class_id: int) -> BaseResponse:
    return _print(_teacher_sheet(class_id))


@bp.post("/members/classes/<int:class_id>/badges/reissue")
def teacher_reissue_class(class_id: int) -> BaseResponse | tuple[str, int]:
    return _reissue_class(_teacher_sheet(class_id))


@bp.post("/members/classes/<int:class_id>/badges/pupils/<int:pupil_id>/reissue")
def teacher_reissue_pupil(class_id: int, pupil_id: int) -> BaseResponse:
    return _reissue_pupil(_teacher_sheet(class_id), pupil_id)


# A school admin's pages --------------------------------------------------------------------


@bp.get("/schools/<urn>/badges")
def school_classes(urn: str) -> str:
    """Every teaching class of the school, each with its badge sheet."""
    school = _administered(urn)
    classes = db.session.scalars(
        select(TeachingClass)
        .where(TeachingClass.school_id == school.id)
        .order_by(TeachingClass.code)
    ).all()
    return render_template(
        "badges/classes.html",
        school=school,
        classes=classes,
        sheet_url=lambda c: url_for("badges.school_sheet", urn=urn, class_id=c.id),
        heading=f"{school.name}: pupils' sign-in badges",
        admin=True,
    )


@bp.get("/schools/<urn>/classes/<int:class_id>/badges")
def school_sheet(urn: str, class_id: int) -> tuple[str, int]:
    return _sheet_page(_school_sheet(urn, class_id))


@bp.post("/schools/<urn>/classes/<int:class_id>/badges/print")
def school_print(urn: str, class_id: int) -> BaseResponse:
    return _print(_school_sheet(urn, class_id))


@bp.post("/schools/<urn>/classes/<int:class_id>/badges/reissue")
def school_reissue_class(urn: str, class_id: int) -> BaseResponse | tuple[str, int]:
    return _reissue_class(_school_sheet(urn, class_id))


@bp.post("/schools/<urn>/classes/<int:class_id>/badges/pupils/<int:pupil_id>/reissue")
def school_reissue_pupil(urn: str, class_id: int, pupil_id: int) -> BaseResponse:
    return _reissue_pupil(_school_sheet(urn, class_id), pupil_id)
