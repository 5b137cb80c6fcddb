"""Public pages of the browser side: the home page and the scope catalogue."""

from __future__ import annotations

from flask import Blueprint, render_template

from authserver.domain.catalogue import default_catalogue

bp = Blueprint("consent", __name__)


@bp.get("/")
def index() -> str:
    """What this service is, with a way in for each kind of user."""
    return render_template("index.html")


@bp.get("/scopes")
def scopes() -> str:
    """The scope catalogue, readable by a school's data protection officer."""
    catalogue = default_catalogue()
    return render_template("scopes.html", catalogue=catalogue, by_category=catalogue.by_category())
