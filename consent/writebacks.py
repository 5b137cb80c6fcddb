"""The school's queue of vendors' writes, for a school without a connector: download them as
CSV, type them into the MIS, and mark them as applied."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, abort, flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from authserver.domain import writeback_queue
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.mis.students import Student
from authserver.models.writebacks import WritebackItem, WritebackState
from consent.dashboard import _no_store, _school, bp, school_to_manage
from consent.forms import WritebacksAppliedForm
from consent.signin import signed_in_user

CSV_COLUMNS = ("item", "queued_at", "application", "resource", "operation", "record_id", "pupil")
#: A spreadsheet would run a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _rows(items: list[WritebackItem]) -> list[dict[str, Any]]:
    """What the page and the CSV show of each item: who wrote what about whom."""
    names = dict(
        db.session.execute(
            select(Application.id, Application.name).where(
                Application.id.in_({item.writeback.application_id for item in items})
            )
        ).all()
    )
    pupil_ids = {i.values.get("student_id") for i in items if i.values.get("student_id")}
    pupils = {
        row.id: f"{row.forename} {row.surname}"
        for row in db.session.execute(
            select(Student.id, Student.forename, Student.surname).where(Student.id.in_(pupil_ids))
        )
    }
    rows = []
    for item in items:
        values = {k: v for k, v in item.values.items() if k != "content"}
        if "content" in item.values:
            values["content"] = "(the photo: ask the application for it)"
        rows.append(
            {
                "item": item.id,
                "queued_at": item.created_at.strftime("%Y-%m-%d %H:%M"),
                "application": names.get(item.writeback.application_id, ""),
                "resource": item.writeback.resource,
                "operation": item.op,
                "record_id": item.record_id,
                "pupil": pupils.get(item.values.get("student_id"), ""),
                "values": values,
            }
        )
    return rows


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


@bp.get("/schools/<urn>/writebacks")
def writebacks(urn: str) -> BaseResponse:
    """The school's queued writes, to download and mark as applied."""
    school = _school(urn)
    rows = _rows(writeback_queue.queued_for_school(db.session, school.id))
    form = WritebacksAppliedForm()
    form.items.choices = [(row["item"], f"Item {row['item']}") for row in rows]
    return _no_store(
        Response(
            render_template(
                "dashboard/writebacks.html",
                school=school,
                rows=rows,
                form=form,
                can_manage=signed_in_user().can_manage_for(school),
            )
        )
    )


@bp.get("/schools/<urn>/writebacks.csv")
def writebacks_csv(urn: str) -> BaseResponse:
    """The queued writes as CSV, oldest first: one row per record, its fields at the end."""
    school = _school(urn)
    rows = _rows(writeback_queue.queued_for_school(db.session, school.id))
    fields = sorted({name for row in rows for name in row["values"]})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, *fields])
    for row in rows:
        writer.writerow(
            [_cell(row[c]) for c in CSV_COLUMNS] + [_cell(row["values"].get(f)) for f in fields]
        )
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="writebacks-{school.urn}.csv"'
    return _no_store(response)


@bp.post("/schools/<urn>/writebacks/applied")
def writebacks_applied(urn: str) -> BaseResponse:
    """Mark the ticked writes as typed into the MIS: each applied, as a connector would."""
    school = school_to_manage(urn)
    form = WritebacksAppliedForm()
    queued = writeback_queue.queued_for_school(db.session, school.id)
    form.items.choices = [(item.id, f"Item {item.id}") for item in queued]
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash("Tick the writes you typed into the MIS (some were settled meanwhile).", "error")
        return redirect(url_for("dashboard.writebacks", urn=urn))
    by = signed_in_user().email
    marked = 0
    for item_id in form.items.data or []:
        item = writeback_queue.queued_item(db.session, school.id, item_id)
        if item is not None and item.state == WritebackState.QUEUED:
            writeback_queue.settle(db.session, item, WritebackState.APPLIED, by=by)
            marked += 1
    db.session.commit()
    flash(f"{marked} write(s) marked as applied.", "success")
    return redirect(url_for("dashboard.writebacks", urn=urn))
