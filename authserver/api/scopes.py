"""The public scope catalogue, as JSON for machines and CSV for data protection officers."""

from __future__ import annotations

import csv
import io

from flask import Response, jsonify

from authserver.api import bp
from authserver.domain.catalogue import Scope, default_catalogue

CSV_COLUMNS = (
    "name",
    "category",
    "kind",
    "sensitive",
    "consent_required",
    "deprecated",
    "description",
    "fields",
)


def scope_document(scope: Scope) -> dict[str, object]:
    """The public description of one scope, with its fields' plain-English labels."""
    catalogue = default_catalogue()
    return {
        "name": scope.name,
        "category": scope.category,
        "kind": scope.kind,
        "sensitive": scope.sensitive,
        "consent_required": scope.consent_required,
        "deprecated": scope.deprecated,
        "description": scope.description,
        "fields": [{"name": f, "label": catalogue.field_label(f)} for f in scope.fields],
    }


@bp.get("/scopes")
def list_scopes() -> Response:
    """Every scope in the catalogue."""
    catalogue = default_catalogue()
    response = jsonify(
        categories=list(catalogue.categories),
        scopes=[scope_document(scope) for scope in catalogue],
    )
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@bp.get("/scopes.csv")
def scopes_csv() -> Response:
    """The catalogue as CSV, one row per scope, fields separated by spaces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for scope in default_catalogue():
        writer.writerow(
            [
                scope.name,
                scope.category,
                scope.kind,
                str(scope.sensitive).lower(),
                str(scope.consent_required).lower(),
                str(scope.deprecated).lower(),
                scope.description,
                " ".join(scope.fields),
            ]
        )
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="scopes.csv"'},
    )
