"""The resource API blueprint, mounted at /api/v1: one module per resource family."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Routes register on import; `resources` last, as its /<resource> catch-all comes after them.
from authserver.api import connections, openapi, resources, scopes, writeback  # noqa: E402, F401
