"""Forms of the school's sign-in pages, the teacher's class page and the members' own pages
(invitations, magic links): Flask-WTF, so each carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from authserver.domain.member_enrolment import Group
from authserver.models.members import MemberRole

ROLE_WORDS = {
    MemberRole.STUDENT: "Pupils",
    MemberRole.TEACHER: "Teachers and other staff",
    MemberRole.PARENT: "Parents and carers",
    MemberRole.SCHOOL_ADMIN: "School admins",
}
#: One person of each role, for a row of a table.
ROLE_WORD = {
    MemberRole.STUDENT: "Pupil",
    MemberRole.TEACHER: "Staff",
    MemberRole.PARENT: "Parent or carer",
    MemberRole.SCHOOL_ADMIN: "School admin",
}


class SignInRolesForm(FlaskForm):
    roles = SelectMultipleField(
        "Who may sign in",
        choices=[SelectChoice(str(role), words) for role, words in ROLE_WORDS.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class AssignForm(FlaskForm):
    """An application for a role, optionally narrowed to a year group or one class; the view
    sets the choices from the school's connected applications, years and classes."""

    application = SelectField("App", choices=[], validate_choice=True)
    role = RadioField(
        "Who gets it",
        choices=[SelectChoice(str(role), words) for role, words in ROLE_WORDS.items()],
        validators=[DataRequired("Choose who gets the app.")],
    )
    nc_year = SelectField("Only in this year group (optional)", choices=[], default="")
    class_id = SelectField("Or only in this class (pupils only, optional)", choices=[], default="")


class EnrolForm(FlaskForm):
    group = RadioField(
        "Whom to add",
        choices=[
            SelectChoice(str(Group.PUPIL), "One pupil"),
            SelectChoice(str(Group.YEAR), "Every pupil in a year group"),
            SelectChoice(str(Group.CLASS), "Every pupil in a class"),
            SelectChoice(str(Group.STAFF), "All staff"),
            SelectChoice(str(Group.PARENTS), "Parents and carers of a year group's pupils"),
        ],
        validators=[DataRequired("Choose whom to add.")],
    )
    # Each is used only with its choice above; left at "" otherwise.
    pupil = SelectField("The pupil", choices=[], default="")
    nc_year = SelectField("The year group", choices=[], default="")
    class_id = SelectField("The class", choices=[], default="")


class ClassAppForm(FlaskForm):
    application = SelectField("App", choices=[], validate_choice=True)


class ChoosePasswordForm(FlaskForm):
    password = PasswordField(
        "Choose a password", validators=[DataRequired("Choose a password."), Length(max=200)]
    )
    confirm = PasswordField(
        "The same password again",
        validators=[DataRequired("Type the password again."), Length(max=200)],
    )


class MagicLinkForm(FlaskForm):
    school = StringField(
        "Your school's number (URN)",
        validators=[
            DataRequired("Enter your school's number."),
            Regexp(r"^\s*\d{5,8}\s*$", message="A school's number is 5 to 8 digits."),
        ],
    )
    email = EmailField(
        "Your email address",
        validators=[DataRequired("Enter your email address."), Length(max=254)],
    )
