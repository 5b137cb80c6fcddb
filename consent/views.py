"""Public pages of the browser side: the home page and the scope catalogue."""

from __future__ import annotations

from flask import Blueprint, render_template

from authserver.domain import vendors
from authserver.domain.catalogue import default_catalogue

bp = Blueprint("consent", __name__)
# What vendors declared, in words for schools (templates/_vendor_facts.html).
bp.add_app_template_global(vendors.location_label, "vendor_location")
bp.add_app_template_global(vendors.generative_ai_label, "vendor_generative_ai")


@bp.get("/")
def index() -> str:
    """What this service is, with a way in for each kind of user."""
    return render_template("index.html")


@bp.get("/scopes")
def scopes() -> str:
    """The scope catalogue, readable by a school's data protection officer."""
    catalogue = default_catalogue()
    return render_template("scopes.html", catalogue=catalogue, by_category=catalogue.by_category())
