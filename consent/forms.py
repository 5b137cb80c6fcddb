"""Flask-WTF forms of the browser side; every one carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget


class SignInForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Sign in")


class CodeForm(FlaskForm):
    """A second-factor code: six digits from the authenticator app, or a recovery code."""

    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired("Enter the code your authenticator app shows."), Length(max=40)],
    )
    submit = SubmitField("Continue")


class SetUpForm(FlaskForm):
    """Confirm a new authenticator with the code it shows."""

    code = StringField(
        "The 6-digit code your app shows now",
        validators=[DataRequired("Enter the 6-digit code your app shows."), Length(max=40)],
    )
    submit = SubmitField("Turn on two-step sign-in")


class ResetSomeoneForm(FlaskForm):
    """A platform admin resets a person's second factor, confirming with their own code."""

    email = EmailField(
        "Their email address",
        validators=[DataRequired("Enter the email address of their account."), Length(max=254)],
    )
    reason = StringField(
        "Why (kept in the audit log)",
        validators=[DataRequired("Say why, for the audit log."), Length(max=500)],
    )
    code = StringField(
        "Your own code, from your authenticator app",
        validators=[
            DataRequired("Enter the code your own authenticator app shows."),
            Length(max=40),
        ],
    )
    submit = SubmitField("Reset their two-step sign-in")


class MultiCheckboxField(SelectMultipleField):
    """Tick boxes, one per choice."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


AUDIENCE_CHOICES = [
    SelectChoice("all", "All pupils"),
    SelectChoice("some", "Only some year groups or classes"),
]
DURATION_CHOICES = [
    SelectChoice("until_withdrawn", "Until we withdraw it"),
    SelectChoice("end_of_year", "Until the end of this academic year"),
    SelectChoice("on_date", "Until a date we choose"),
]


class DecisionForm(FlaskForm):
    """A school's decision on a request for its data; choices are set per request."""

    school = StringField("School", validators=[DataRequired(), Length(max=16)])
    optional_scopes = MultiCheckboxField("Optional data", choices=[])
    shared_fields = MultiCheckboxField("Details shared", choices=[])
    audience = RadioField("Which pupils", choices=AUDIENCE_CHOICES, default="all")
    duration = RadioField("For how long", choices=DURATION_CHOICES, default="until_withdrawn")
    # Read by consent.decisions.expiry_from, which says what is wrong with it in words.
    end_date = StringField("End date", validators=[Length(max=20)])
    group_ids = MultiCheckboxField("Year groups", choices=[], coerce=int)
    class_ids = MultiCheckboxField("Classes", choices=[], coerce=int)
    approve = SubmitField("Approve")
    deny = SubmitField("Deny")


class ChangeForm(FlaskForm):
    """A school's change of a connection in force; choices are set per connection. The same
    form, its values carried in hidden fields, confirms the change on the next page."""

    scopes = MultiCheckboxField("Data shared", choices=[])
    shared_fields = MultiCheckboxField("Details shared", choices=[])
    audience = RadioField("Which pupils", choices=AUDIENCE_CHOICES, default="all")
    group_ids = MultiCheckboxField("Year groups", choices=[], coerce=int)
    class_ids = MultiCheckboxField("Classes", choices=[], coerce=int)
    duration = RadioField("For how long", choices=DURATION_CHOICES, default="until_withdrawn")
    end_date = StringField("End date", validators=[Length(max=20)])
    review = SubmitField("Review the change")
    confirm = SubmitField("Confirm the change")
    back = SubmitField("Go back and change it")


class ConfirmForm(FlaskForm):
    """A button that changes something (revoke, sign out): only its CSRF token matters."""

    submit = SubmitField("Confirm")


class ConnectorForm(FlaskForm):
    """Register an MIS connector: a name, so the school knows which agent it is."""

    name = StringField(
        "What it is (for example: SIMS agent in the school office)",
        validators=[DataRequired(), Length(max=200)],
        default="MIS connector",
    )
    submit = SubmitField("Register the connector")


ROTATION_CHOICES = [
    SelectChoice("24", "Keep the old secret working for 24 hours, while the agent is updated"),
    SelectChoice("0", "Stop the old secret now (it may have leaked)"),
]


class RotateConnectorForm(FlaskForm):
    overlap = RadioField("The old secret", choices=ROTATION_CHOICES, default="24")
    submit = SubmitField("Issue a new secret")


class PauseForm(FlaskForm):
    """Pause a school's (or a trust's) sync, saying why."""

    reason = StringField(
        "Why (applications see this)", validators=[Length(max=500)], default="Year rollover"
    )
    submit = SubmitField("Pause sync")


class WritebacksAppliedForm(FlaskForm):
    """The queued writes a school typed into its MIS by hand, to mark as applied."""

    items = MultiCheckboxField("Writes typed into the MIS", coerce=int)
    submit = SubmitField("Mark the ticked writes as applied")


class UploadForm(FlaskForm):
    """A CTF or OneRoster file to import; nothing is applied until the school confirms."""

    file = FileField(
        "The file (a CTF .xml, or a OneRoster .zip)",
        validators=[FileRequired("Choose a file to import.")],
    )
    submit = SubmitField("Upload and check it")


class ApplyImportForm(FlaskForm):
    allow_mass_deletion = BooleanField(
        "Yes: this file is the whole school, and the records it leaves out should be removed"
    )
    submit = SubmitField("Apply these changes")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Your current password", validators=[DataRequired(), Length(max=200)])
    new = PasswordField("A new password", validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField("The new password again", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Change my password")


class EstablishmentSearchForm(FlaskForm):
    """Finding an establishment in the DfE register. A search changes nothing, so it is a GET
    form without a CSRF token (which would otherwise end up in the address bar)."""

    class Meta:
        csrf = False

    q = StringField(
        "URN or school name",
        validators=[
            DataRequired("Enter a URN or part of a school's name."),
            Length(max=200, message="Enter at most 200 characters."),
        ],
    )


PHASE_CHOICES = [
    SelectChoice("primary", "Primary"),
    SelectChoice("secondary", "Secondary"),
    SelectChoice("all-through", "All-through"),
    SelectChoice("nursery", "Nursery"),
    SelectChoice("16 plus", "16 plus"),
    SelectChoice("not applicable", "Not applicable (a special school, say)"),
]


class PhaseField(RadioField):
    """Radio buttons of a school's phase; anything else is asked for again in plain words."""

    def pre_validate(self, form: object) -> None:
        if self.data not in {choice.value for choice in PHASE_CHOICES}:
            raise StopValidation("Choose the school's phase.")


class OutsideRegisterForm(FlaskForm):
    """A school the DfE register does not have, added by a platform admin with a reason."""

    urn = StringField(
        "URN",
        validators=[
            DataRequired("Enter the school's URN."),
            Length(max=16, message="A URN is six or seven digits."),
        ],
    )
    name = StringField(
        "School name",
        validators=[
            DataRequired("Enter the school's name."),
            Length(max=200, message="Enter at most 200 characters."),
        ],
    )
    phase = PhaseField("Phase", choices=PHASE_CHOICES)
    reason = TextAreaField(
        "Why is it added without the register?",
        validators=[
            DataRequired("Say why this school is added without the DfE register."),
            Length(max=1000, message="Enter at most 1,000 characters."),
        ],
    )
    submit = SubmitField("Add the school")
