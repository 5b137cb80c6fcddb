"""Flask-WTF forms of the platform's resource server pages; every one carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, StringField, SubmitField, URLField
from wtforms.validators import DataRequired, Length

#: The choices of how long the old secret keeps working, in minutes (see resource_servers).
OVERLAP_CHOICES = [
    SelectChoice("60", "Keep the old secret working for one hour, while you deploy the new one"),
    SelectChoice("0", "Stop the old secret now (if it may have leaked)"),
]


class ResourceServerForm(FlaskForm):
    """Register a resource server by name and URL (its resource identifier)."""

    name = StringField(
        "Name",
        validators=[DataRequired("Enter the resource server's name."), Length(max=200)],
    )
    url = URLField(
        "URL (its resource identifier)",
        validators=[DataRequired("Enter the resource server's URL."), Length(max=500)],
    )
    submit = SubmitField("Register the resource server")


class RotateResourceServerForm(FlaskForm):
    """Issue a new secret, the old one ending now or after an hour."""

    overlap_minutes = RadioField(
        "When the old secret stops working",
        choices=OVERLAP_CHOICES,
        default="60",
        validators=[DataRequired("Choose when the old secret stops working.")],
    )
    submit = SubmitField("Issue a new secret")
