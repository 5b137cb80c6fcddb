"""The public scope catalogue, as JSON for machines and CSV for data protection officers."""

from __future__ import annotations

import csv
import io

from flask import Response

from authserver.api import bp, responses
from authserver.api.responses import model_response
from authserver.domain.catalogue import Scope, default_catalogue

#: The CSV has the JSON's columns, in the same order.
CSV_COLUMNS = tuple(responses.Scope.model_fields)


def scope_document(scope: Scope) -> responses.Scope:
    """The public description of one scope, with its fields' plain-English labels."""
    catalogue = default_catalogue()
    return responses.Scope(
        name=scope.name,
        category=scope.category,
        kind=scope.kind,
        sensitive=scope.sensitive,
        consent_required=scope.consent_required,
        deprecated=scope.deprecated,
        description=scope.description,
        fields=[responses.ScopeField(name=f, label=catalogue.field_label(f)) for f in scope.fields],
    )


@bp.get("/scopes")
def list_scopes() -> Response:
    """Every scope in the catalogue."""
    catalogue = default_catalogue()
    body = responses.ScopeCatalogue(
        categories=list(catalogue.categories),
        scopes=[scope_document(scope) for scope in catalogue],
    )
    response = model_response(body)
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


def _csv_cell(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):  # the fields, by name
        return " ".join(field.name for field in value)
    return str(value)


@bp.get("/scopes.csv")
def scopes_csv() -> Response:
    """The catalogue as CSV, one row per scope, fields separated by spaces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for scope in default_catalogue():
        document = scope_document(scope)
        writer.writerow([_csv_cell(getattr(document, column)) for column in CSV_COLUMNS])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="scopes.csv"'},
    )
