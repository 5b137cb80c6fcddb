"""The resource API blueprint, mounted at /api/v1: one module per resource family."""

from flask import Blueprint

from authserver.web.ratelimits import limit_per_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# One allowance per access token across the whole API, whichever resources it reads.
limit_per_token(bp, "api_requests_per_token")

# Routes register on import; `resources` last, as its /<resource> catch-all comes after them.
from authserver.api import connections, openapi, resources, scopes, writeback  # noqa: E402, F401
