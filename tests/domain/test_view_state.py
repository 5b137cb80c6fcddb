"""A grant's view state is made once, however many first syncs arrive at the same moment."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from authserver.domain import views
from authserver.extensions import db
from authserver.models.views import ViewState


def test_two_first_syncs_make_one_view_state(app, vendor_app, school, school_admin) -> None:
    from authserver.domain import grants
    from authserver.models import Application, School, User

    with app.app_context():
        application = db.session.get(Application, vendor_app[0].id)
        grant = grants.approve(
            application,
            db.session.get(School, school.id),
            approver=db.session.get(User, school_admin.id),
            choice=grants.scope_choice(application, None, None),
        )
        db.session.flush()
        now = dt.datetime.now(dt.UTC)
        # The second request's insert meets the first's row: nothing is raised, one row stays.
        views._ensure_state(grant.id, now, now.date())
        views._ensure_state(grant.id, now, now.date())
        assert (
            db.session.scalar(
                select(func.count()).select_from(ViewState).where(ViewState.grant_id == grant.id)
            )
            == 1
        )
        db.session.rollback()
