"""Flask-WTF forms of the vendor's pages; every one carries a CSRF token.

The rules themselves live in the domain (`authserver.domain.applications`); these forms only put its
messages next to the input they are about.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    Field,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    URLField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from authserver.domain import names
from authserver.domain.applications import (
    RegistrationError,
    ScopeRequest,
    check_https_url,
    check_redirect_uri,
    check_scope_requests,
)
from authserver.domain.catalogue import Scope, UnknownScopeError
from authserver.domain.credentials import password_problem
from authserver.domain.vendors import EMAIL, VendorDetails, VendorDetailsError
from authserver.models.applications import ResourceServer, Vendor
from authserver.webhooks import WebhookURLError, check_webhook_url

SCOPE_FIELD_PREFIX = "scope_"
PURPOSE_FIELD_PREFIX = "purpose_"
ASKED = ("required", "optional")
SCOPE_CHOICES = [
    SelectChoice("none", "Not needed"),
    SelectChoice("required", "Required"),
    SelectChoice("optional", "Optional"),
]
AUTH_METHOD_CHOICES = [
    SelectChoice(
        "client_secret_basic",
        "Client secret in the Authorization header (client_secret_basic)",
    ),
    SelectChoice("client_secret_post", "Client secret in the request body (client_secret_post)"),
    SelectChoice(
        "none", "No secret: a public client, such as a mobile or browser app (none, PKCE only)"
    ),
]


def sentence(message: object) -> str:
    """A domain message ("redirect URI ... must use https") as a sentence for people."""
    text = str(message).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def lines(text: str | None) -> list[str]:
    """The non-blank lines of a textarea, trimmed."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _https(what: str):
    def check(form: FlaskForm, field: Field) -> None:
        if field.data:
            try:
                check_https_url(field.data.strip(), what)
            except RegistrationError as refusal:
                raise ValidationError(sentence(refusal)) from None

    return check


def _visible(label: str, *, multiline: bool = False):
    # On the text as typed: the form trims ends, and str.strip() removes some control
    # characters (U+001C to U+001F, U+0085, U+2028) that must be refused, not hidden.
    def check(form: FlaskForm, field: Field) -> None:
        try:
            names.check_visible(
                field.data or "", field=field.name, label=label, multiline=multiline
            )
        except names.NameRefused as refusal:
            raise ValidationError(sentence(refusal)) from None

    return check


def _redirect_uris(form: FlaskForm, field: Field) -> None:
    for uri in lines(field.data):
        try:
            check_redirect_uri(uri)
        except RegistrationError as refusal:
            raise ValidationError(sentence(refusal)) from None


class ApplicationForm(FlaskForm):
    """An application's registration; `application_form` adds a choice and a purpose per
    scope (and a vendor choice for people who look after several vendors)."""

    name = StringField(
        "Application name",
        validators=[
            DataRequired("Enter the application's name."),
            Length(max=200),
            _visible("The application name"),
        ],
    )
    description = TextAreaField(
        "Description (optional)",
        validators=[
            Optional(),
            Length(max=2000),
            _visible("The description", multiline=True),
        ],
    )
    redirect_uris = TextAreaField(
        "Redirect URIs",
        validators=[DataRequired("Enter at least one redirect URI."), _redirect_uris],
    )
    initiate_login_uri = URLField(
        "Sign-in start URL (optional)",
        validators=[Optional(), Length(max=500), _https("the sign-in start URL")],
    )
    post_logout_redirect_uris = TextAreaField(
        "Sign-out return URIs (optional)", validators=[Optional(), _redirect_uris]
    )
    privacy_policy_url = URLField(
        "Privacy policy URL",
        validators=[
            DataRequired("Enter the address of your privacy policy."),
            Length(max=500),
            _https("the privacy policy"),
        ],
    )
    terms_url = URLField(
        "Terms of use URL (optional)",
        validators=[Optional(), Length(max=500), _https("the terms of use")],
    )
    website_url = URLField(
        "Website URL (optional)", validators=[Optional(), Length(max=500), _https("the website")]
    )
    token_endpoint_auth_method = RadioField(
        "How the application signs in at the token endpoint",
        choices=AUTH_METHOD_CHOICES,
        default="client_secret_basic",
    )
    # Client ids of the registered resource servers it calls; `application_form` sets the choices.
    resource_servers = SelectMultipleField(
        "Resource servers the application calls",
        choices=[],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    # Set on the page that first shows the form: a second post of it registers nothing more.
    registration_key = HiddenField()
    submit = SubmitField("Save")

    scopes: tuple[Scope, ...] = ()

    def choice_of(self, scope: str) -> Field:
        return self[SCOPE_FIELD_PREFIX + scope]

    def purpose_of(self, scope: str) -> Field:
        return self[PURPOSE_FIELD_PREFIX + scope]

    def scope_requests(self) -> list[ScopeRequest]:
        """The scopes asked for on the form, with their purposes."""
        return [
            ScopeRequest(
                s.name,
                self.purpose_of(s.name).data or "",
                self.choice_of(s.name).data == "required",
            )
            for s in self.scopes
            if self.choice_of(s.name).data in ASKED
        ]

    def registration(self) -> dict[str, Any]:
        """The fields of `register_application` / `update_application`, scopes aside."""
        return {
            "name": self.name.data.strip(),
            "description": (self.description.data or "").strip(),
            "redirect_uris": lines(self.redirect_uris.data),
            "post_logout_redirect_uris": lines(self.post_logout_redirect_uris.data or ""),
            "privacy_policy_url": self.privacy_policy_url.data.strip(),
            "terms_url": (self.terms_url.data or "").strip() or None,
            "website_url": (self.website_url.data or "").strip() or None,
            # "" clears it; the domain keeps it when an edit does not say (None).
            "initiate_login_uri": (self.initiate_login_uri.data or "").strip(),
            "token_endpoint_auth_method": self.token_endpoint_auth_method.data,
            "resource_servers": list(self.resource_servers.data or []),
        }

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for request in self.scope_requests():
            try:
                check_scope_requests([request])
            except (RegistrationError, UnknownScopeError) as refusal:
                scope = next(s for s in self.scopes if s.name == request.scope)
                about_scope = scope.deprecated or not scope.consent_required
                field = self.choice_of(scope.name) if about_scope else self.purpose_of(scope.name)
                field.errors.append(sentence(refusal))
                valid = False
        return valid


def application_form(
    scopes: Iterable[Scope],
    *,
    vendors: Sequence[Vendor] = (),
    servers: Sequence[ResourceServer] = (),
    **kwargs: Any,
) -> ApplicationForm:
    """The registration form with a choice (not needed, required, optional) and a purpose for
    each of `scopes`, a tick box for each of the registered resource `servers`, and a vendor
    choice when there are several `vendors`."""
    scopes = tuple(scopes)
    fields: dict[str, Any] = {"scopes": scopes}
    for scope in scopes:
        fields[SCOPE_FIELD_PREFIX + scope.name] = SelectField(
            scope.name, choices=SCOPE_CHOICES, default="none"
        )
        fields[PURPOSE_FIELD_PREFIX + scope.name] = StringField(
            f"Why you need {scope.name}", validators=[Length(max=1000)]
        )
    if len(vendors) > 1:
        fields["vendor_id"] = SelectField(
            "Vendor",
            coerce=int,
            choices=[SelectChoice(v.id, v.name) for v in vendors],
            validators=[DataRequired("Choose the vendor this application belongs to.")],
        )
    form_class = type("ApplicationForm", (ApplicationForm,), fields)
    form: ApplicationForm = form_class(**kwargs)
    form.resource_servers.choices = [
        SelectChoice(server.client_id, f"{server.name} ({server.url})") for server in servers
    ]
    return form


def unlisted_scope_requests(formdata: Any, form: ApplicationForm) -> list[ScopeRequest]:
    """Scopes posted that the form did not offer (made up, or deprecated since it was shown):
    passed on to the domain, which refuses them with a message rather than dropping them."""
    offered = {s.name for s in form.scopes}
    requests = []
    for key in formdata:
        scope = key.removeprefix(SCOPE_FIELD_PREFIX)
        if key.startswith(SCOPE_FIELD_PREFIX) and scope not in offered:
            choice = formdata.get(key)
            if choice in ASKED:
                purpose = formdata.get(PURPOSE_FIELD_PREFIX + scope, "")
                requests.append(ScopeRequest(scope, purpose, choice == "required"))
    return requests


class AccessRequestForm(FlaskForm):
    """Ask one school, named by its URN, for the application's scopes."""

    urn = StringField(
        "School URN", validators=[DataRequired("Enter the school's URN."), Length(max=16)]
    )
    submit = SubmitField("Ask for access")


def _webhook_url(form: FlaskForm, field: Field) -> None:
    if field.data:
        try:
            check_webhook_url(field.data)
        except WebhookURLError as refusal:
            raise ValidationError(sentence(refusal)) from None


class WebhookForm(FlaskForm):
    """Where an application's event notifications go; saving it issues a new signing secret."""

    url = URLField(
        "Webhook URL",
        validators=[
            DataRequired("Enter the address that should receive the events."),
            Length(max=500, message="The webhook URL must be at most 500 characters."),
            _webhook_url,
        ],
    )
    submit = SubmitField("Save the webhook URL")


DATA_LOCATION_CHOICES = [
    SelectChoice("uk", "In the UK"),
    SelectChoice("eea", "In the European Economic Area (EEA)"),
    SelectChoice("elsewhere", "Elsewhere, or partly elsewhere"),
]
YES_NO_CHOICES = [SelectChoice("no", "No"), SelectChoice("yes", "Yes")]


class VendorSignUpForm(FlaskForm):
    """A vendor's sign-up: what schools need to know of it, and its first admin's account."""

    name = StringField(
        "Organisation name",
        validators=[DataRequired("Enter your organisation's name."), Length(max=200)],
    )
    company_number = StringField(
        "Company number",
        validators=[
            DataRequired("Enter your company number from Companies House."),
            Length(max=12, message="A company number has 8 characters."),
        ],
    )
    ico_registration_number = StringField(
        "ICO registration number",
        validators=[
            DataRequired("Enter your registration number from the ICO."),
            Length(max=12, message="An ICO registration number has 8 characters."),
        ],
    )
    data_protection_contact_name = StringField(
        "Name of your data protection contact",
        validators=[
            DataRequired("Enter the name of your data protection contact."),
            Length(max=200),
        ],
    )
    data_protection_contact_email = EmailField(
        "Email address of your data protection contact",
        validators=[
            DataRequired("Enter the email address of your data protection contact."),
            Length(max=254),
        ],
    )
    data_location = RadioField(
        "Where is pupils' data stored?",
        choices=DATA_LOCATION_CHOICES,
        validators=[InputRequired("Choose where pupils' data is stored.")],
    )
    data_location_detail = TextAreaField(
        "If elsewhere: which countries, and under what safeguards",
        validators=[Optional(), Length(max=2000)],
    )
    uses_generative_ai = RadioField(
        "Does your service use generative AI on pupils' data?",
        choices=YES_NO_CHOICES,
        validators=[InputRequired("Say whether you use generative AI on pupils' data.")],
    )
    generative_ai_use = TextAreaField(
        "If yes: what it is used for", validators=[Optional(), Length(max=2000)]
    )
    admin_name = StringField(
        "Your name", validators=[DataRequired("Enter your name."), Length(max=200)]
    )
    admin_email = EmailField(
        "Your email address",
        validators=[
            DataRequired("Enter your email address."),
            Length(max=254),
        ],
    )
    password = PasswordField(
        "Choose a password",
        validators=[DataRequired("Choose a password."), Length(max=200)],
    )
    submit = SubmitField("Create the vendor account")

    def details(self) -> VendorDetails:
        """The vendor's declared details, as the domain checks them."""
        return VendorDetails(
            name=self.name.data or "",
            company_number=self.company_number.data or "",
            ico_registration_number=self.ico_registration_number.data or "",
            data_protection_contact_name=self.data_protection_contact_name.data or "",
            data_protection_contact_email=self.data_protection_contact_email.data or "",
            data_location=self.data_location.data or "",
            data_location_detail=self.data_location_detail.data or "",
            uses_generative_ai=self.uses_generative_ai.data == "yes",
            generative_ai_use=self.generative_ai_use.data or "",
        )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if not valid:
            return False
        if not EMAIL.match(self.admin_email.data.strip()):
            self.admin_email.errors = ["Enter an email address such as name@example.com."]
            return False
        try:
            self.details().checked()
        except VendorDetailsError as refusal:
            self[refusal.field].errors = [*self[refusal.field].errors, str(refusal)]
            return False
        problem = password_problem(
            self.password.data,
            about=(self.admin_email.data, self.admin_name.data, self.name.data),
        )
        if problem:
            self.password.errors = [*self.password.errors, problem]
            return False
        return True


class WithdrawVerificationForm(FlaskForm):
    """A platform admin takes a vendor's verification back, saying why."""

    reason = TextAreaField(
        "Why is verification withdrawn?",
        validators=[
            DataRequired("Say why: the vendor and its schools are shown the reason."),
            Length(max=1000),
        ],
    )
    submit = SubmitField("Withdraw verification")
