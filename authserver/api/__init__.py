"""The resource API blueprint, mounted at /api/v1: one module per resource family."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from authserver.api import connections, scopes  # noqa: E402, F401  (routes register on import)
