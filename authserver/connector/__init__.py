"""The MIS connector API, mounted at /connector/v1: a school's MIS agent pushes its data in
and pulls the writeback queue, with a connector token (client credentials) and nothing else."""

from flask import Blueprint

from authserver.web.ratelimits import limit_per_token

bp = Blueprint("connector", __name__, url_prefix="/connector/v1")
limit_per_token(bp, "connector_requests_per_token")

from authserver.connector import ingest, status, writebacks  # noqa: E402, F401
