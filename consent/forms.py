"""Flask-WTF forms of the browser side; every one carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget


class SignInForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Sign in")


class MultiCheckboxField(SelectMultipleField):
    """Tick boxes, one per choice."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class DecisionForm(FlaskForm):
    """A school's decision on a request for its data; choices are set per request."""

    school = StringField("School", validators=[DataRequired(), Length(max=16)])
    optional_scopes = MultiCheckboxField("Optional data", choices=[])
    shared_fields = MultiCheckboxField("Details shared", choices=[])
    audience = RadioField(
        "Which pupils",
        choices=[
            SelectChoice("all", "All pupils"),
            SelectChoice("some", "Only some year groups or classes"),
        ],
        default="all",
    )
    duration = RadioField(
        "For how long",
        choices=[
            SelectChoice("until_withdrawn", "Until we withdraw it"),
            SelectChoice("end_of_year", "Until the end of this academic year"),
        ],
        default="until_withdrawn",
    )
    group_ids = MultiCheckboxField("Year groups", choices=[], coerce=int)
    class_ids = MultiCheckboxField("Classes", choices=[], coerce=int)
    approve = SubmitField("Approve")
    deny = SubmitField("Deny")


class ConfirmForm(FlaskForm):
    """A button that changes something (revoke, sign out): only its CSRF token matters."""

    submit = SubmitField("Confirm")
