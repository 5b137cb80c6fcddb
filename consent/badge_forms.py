"""Forms of the badge pages (Flask-WTF, so each carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SubmitField
from wtforms.validators import DataRequired, Length


class BadgeSignInForm(FlaskForm):
    """The badge read by the page's camera (or from a badge's link), posted in the body: it
    never appears in a URL the server or a log sees."""

    badge = HiddenField(validators=[DataRequired(), Length(max=100)])
    submit = SubmitField("Sign in with this badge")


class PrintBadgesForm(FlaskForm):
    submit = SubmitField("Print badges for pupils who have none")


class ReissuePupilForm(FlaskForm):
    submit = SubmitField("Make a new badge")


class ReissueClassForm(FlaskForm):
    confirm = BooleanField(
        "I understand: every old badge of this class stops working now, and these pupils are"
        " signed out",
        validators=[DataRequired("Tick the box to say you understand the old badges stop.")],
    )
    submit = SubmitField("Make new badges for the whole class")
