"""Forms of the members' pages (Flask-WTF, so each carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp


class MemberSignInForm(FlaskForm):
    school = StringField(
        "Your school's number (URN)",
        validators=[
            DataRequired("Enter your school's number: your teacher can tell you."),
            Regexp(r"^\s*\d{5,8}\s*$", message="A school's number is 5 to 8 digits."),
        ],
    )
    login = StringField(
        "Username or email address",
        validators=[DataRequired("Enter your username."), Length(max=254)],
    )
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=200)]
    )
    # Classroom computers and tablets are the usual case; a session there is short.
    shared_device = BooleanField(
        "This is a shared computer or tablet (sign me out soon if I leave it)", default=True
    )
    submit = SubmitField("Sign in")


class AdminSignInForm(FlaskForm):
    """A school admin signing in to apps with their admin account: their authenticator's code
    when the last one they typed is not recent (the view asks for it only then)."""

    code = StringField("Code from your authenticator app", validators=[Length(max=40)])
    submit = SubmitField("Sign in to apps")
