"""Forms of the badge pages (Flask-WTF, so each carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField
from wtforms.validators import DataRequired, Length


class BadgeSignInForm(FlaskForm):
    """The badge read by the page's camera (or from a badge's link), posted in the body: it
    never appears in a URL the server or a log sees."""

    badge = HiddenField(validators=[DataRequired(), Length(max=100)])


class PrintBadgesForm(FlaskForm):
    """Make and print badges for the pupils who have none (only its CSRF token matters)."""


class ReissuePupilForm(FlaskForm):
    """Make one pupil a new badge (only its CSRF token matters)."""


class ReissueClassForm(FlaskForm):
    confirm = BooleanField(
        "I understand: every old badge of this class stops working now, and these pupils are"
        " signed out",
        validators=[DataRequired("Tick the box to say you understand the old badges stop.")],
    )
