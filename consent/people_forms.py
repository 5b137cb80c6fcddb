"""Forms of the people pages: inviting, changing what someone may do, accepting an invitation,
and resetting a forgotten password (Flask-WTF, so each carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
)
from wtforms.validators import DataRequired, Length


class InviteForm(FlaskForm):
    email = EmailField(
        "Their email address",
        validators=[DataRequired("Enter their email address."), Length(max=254)],
    )
    can_manage = BooleanField("May manage: connections, the MIS connector, imports and people")
    can_approve = BooleanField("May approve data sharing with applications")


class RightsForm(FlaskForm):
    can_manage = BooleanField("May manage")
    can_approve = BooleanField("May approve data sharing")


class AcceptForm(FlaskForm):
    name = StringField(
        "Your full name", validators=[DataRequired("Enter your name."), Length(max=200)]
    )
    password = PasswordField(
        "Choose a password", validators=[DataRequired("Choose a password."), Length(max=200)]
    )
    confirm = PasswordField(
        "The same password again",
        validators=[DataRequired("Type the password again."), Length(max=200)],
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Your email address",
        validators=[DataRequired("Enter your email address."), Length(max=254)],
    )


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password", validators=[DataRequired("Choose a password."), Length(max=200)]
    )
    confirm = PasswordField(
        "The same password again",
        validators=[DataRequired("Type the password again."), Length(max=200)],
    )


class PlatformInviteForm(FlaskForm):
    kind = RadioField(
        "Invite the first admin of",
        choices=[
            SelectChoice("school", "A school (by its URN)"),
            SelectChoice("trust", "A trust (by its code in the DfE register)"),
        ],
        default="school",
    )
    organisation = StringField(
        "URN or trust code",
        validators=[DataRequired("Enter the school's URN or the trust's code."), Length(max=16)],
    )
    email = EmailField(
        "Their email address",
        validators=[DataRequired("Enter their email address."), Length(max=254)],
    )
