"""The scope catalogue: every data scope, the fields it unlocks, and their plain-English labels.

The catalogue is data (`scopes.toml`, next to this module); this module loads it and checks it
against the MIS data model, so that a scope can never name a field that does not exist and no
field of the model is left out of every scope. Sign-in scopes (OpenID Connect) unlock no fields:
they release claims about the person signing in, each one this server knows how to make.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeGuard

from authserver.models.mis import ENTITIES, MisRecord, entity_fields

CATALOGUE_PATH = Path(__file__).with_name("scopes.toml")
KINDS = ("read", "write")

_REQUIRED_KEYS = frozenset({"name", "category", "kind", "sensitive", "description", "fields"})
_OPTIONAL_KEYS = frozenset({"deprecated", "consent_required", "claims"})
#: The category of sign-in scopes, shown as its own part of a request.
SIGN_IN_CATEGORY = "Sign-in"
#: The claims a sign-in scope may release: OpenID Connect's own and ours (authserver.oauth.claims).
SIGN_IN_CLAIMS = frozenset(
    {
        "sub",
        "name",
        "given_name",
        "family_name",
        "email",
        "email_verified",
        "role",
        "school_urn",
        "classes",
        "children",
        "year_group",
    }
)


class CatalogueError(ValueError):
    """The catalogue file is malformed or disagrees with the data model."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class UnknownScopeError(KeyError):
    """One or more scope names are not in the catalogue."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)
        super().__init__(f"unknown scope(s): {', '.join(self.names)}")

    def __str__(self) -> str:
        # KeyError would quote the message; this one is meant for people.
        return str(self.args[0])


@dataclass(frozen=True)
class Scope:
    """A catalogue entry: a named slice of school data an application may ask for."""

    name: str
    category: str
    kind: str
    sensitive: bool
    deprecated: bool
    description: str
    fields: tuple[str, ...]
    consent_required: bool = True
    # For a sign-in scope: the claims it releases (it unlocks no fields).
    claims: tuple[str, ...] = ()

    @property
    def is_sign_in(self) -> bool:
        """Whether this scope signs people in (OpenID Connect) rather than sharing data."""
        return bool(self.claims)

    @property
    def entities(self) -> tuple[str, ...]:
        """The entities this scope touches, in the order its fields first name them."""
        return tuple(dict.fromkeys(field.partition(".")[0] for field in self.fields))

    def fields_of(self, entity: str) -> tuple[str, ...]:
        """The names (without the entity prefix) of this scope's fields of one entity."""
        prefix = f"{entity}."
        return tuple(f.removeprefix(prefix) for f in self.fields if f.startswith(prefix))


@dataclass(frozen=True, eq=False)
class Catalogue:
    """The loaded, validated catalogue. Iterating over it yields its scopes in file order."""

    scopes: Mapping[str, Scope]
    categories: tuple[str, ...]
    entity_labels: Mapping[str, str]
    field_labels: Mapping[str, str]

    def __getitem__(self, name: str) -> Scope:
        try:
            return self.scopes[name]
        except KeyError:
            raise UnknownScopeError([name]) from None

    def __contains__(self, name: object) -> bool:
        return name in self.scopes

    def __iter__(self) -> Iterator[Scope]:
        return iter(self.scopes.values())

    def __len__(self) -> int:
        return len(self.scopes)

    def get(self, name: str) -> Scope | None:
        """The scope with this name, or None."""
        return self.scopes.get(name)

    @functools.cached_property
    def always_shared(self) -> frozenset[str]:
        """Scopes that need no consent (PublicSchoolData): granted to any application that
        asks, never requested of a school, never withdrawn."""
        return frozenset(scope.name for scope in self if not scope.consent_required)

    @functools.cached_property
    def sign_in_scopes(self) -> tuple[str, ...]:
        """The scopes that sign the school's people in (openid, profile, ...), in file order."""
        return tuple(scope.name for scope in self if scope.is_sign_in)

    def claims_for(self, names: Iterable[str]) -> frozenset[str]:
        """Every claim the named scopes release together (unknown names release none)."""
        return frozenset(
            claim for name in names if name in self.scopes for claim in self.scopes[name].claims
        )

    def by_category(self) -> dict[str, list[Scope]]:
        """Scopes grouped by category, categories in declared order (empty ones included)."""
        grouped: dict[str, list[Scope]] = {category: [] for category in self.categories}
        for scope in self:
            grouped[scope.category].append(scope)
        return grouped

    def require_known(self, names: Iterable[str]) -> list[str]:
        """The names, without duplicates, in the order given; raises for any unknown name."""
        wanted = list(dict.fromkeys(names))
        unknown = [name for name in wanted if name not in self.scopes]
        if unknown:
            raise UnknownScopeError(unknown)
        return wanted

    def fields_for(self, names: Iterable[str]) -> frozenset[str]:
        """Every `entity.field` the named scopes unlock together."""
        return frozenset(
            field for name in self.require_known(names) for field in self.scopes[name].fields
        )

    @staticmethod
    def pupil_links(fields: Iterable[str]) -> list[str]:
        """The fields among these that say whose a record is (its `student_id`): left out,
        the record is shared without naming its pupil."""
        return [field for field in fields if field.endswith(".student_id")]

    def field_label(self, field: str) -> str:
        """The plain-English label of an `entity.field`; KeyError if there is no such field."""
        return self.field_labels[field]

    def entity_label(self, entity: str) -> str:
        """The plain-English label of an entity; KeyError if there is no such entity."""
        return self.entity_labels[entity]

    def scopes_for_entity(self, entity: str, kind: str = "read") -> list[Scope]:
        """The scopes of this kind that unlock at least one field of the entity."""
        if entity not in self.entity_labels:
            raise KeyError(entity)
        return [s for s in self if s.kind == kind and entity in s.entities]

    def scopes_unlocking(self, field: str, kind: str = "read") -> list[Scope]:
        """The scopes of this kind whose fields include this `entity.field`."""
        if field not in self.field_labels:
            raise KeyError(field)
        return [s for s in self if s.kind == kind and field in s.fields]


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate a catalogue file (the packaged one by default)."""
    path = path or CATALOGUE_PATH
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise CatalogueError([f"{path.name} is not valid TOML: {error}"]) from error
    return _build(data)


@functools.cache
def default_catalogue() -> Catalogue:
    """The packaged catalogue, loaded once per process."""
    return load_catalogue()


def _build(data: Mapping[str, Any]) -> Catalogue:
    """Turn parsed TOML into a Catalogue, collecting every problem before raising."""
    problems: list[str] = []
    categories = _categories(data.get("categories"), problems)
    entity_labels, field_labels = _labels(data.get("entities"), problems)
    raw_scopes = data.get("scopes")
    if not isinstance(raw_scopes, list) or not raw_scopes:
        problems.append("the catalogue declares no [[scopes]]")
        raw_scopes = []
    scopes: dict[str, Scope] = {}
    for index, raw in enumerate(raw_scopes, start=1):
        scope = _scope(index, raw, categories, problems)
        if scope is None:
            continue
        if scope.name in scopes:
            problems.append(f"scope {scope.name!r} is declared more than once")
            continue
        scopes[scope.name] = scope
    _check_reachable(scopes.values(), problems)
    if problems:
        raise CatalogueError(problems)
    return Catalogue(
        scopes=MappingProxyType(scopes),
        categories=categories,
        entity_labels=MappingProxyType(entity_labels),
        field_labels=MappingProxyType(field_labels),
    )


def _categories(raw: object, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) and c for c in raw):
        problems.append("'categories' must be a non-empty list of names")
        return ()
    duplicates = sorted({c for c in raw if raw.count(c) > 1})
    if duplicates:
        problems.append(f"categories declared more than once: {', '.join(duplicates)}")
    return tuple(dict.fromkeys(raw))


def _labels(raw: object, problems: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Entity and field labels; every entity and field of the model must have one."""
    raw = raw if isinstance(raw, dict) else {}
    entity_labels: dict[str, str] = {}
    field_labels: dict[str, str] = {}
    for entity in raw:
        if entity not in ENTITIES:
            problems.append(f"label for unknown entity {entity!r}")
    for entity in ENTITIES:
        table = raw.get(entity)
        if not isinstance(table, dict) or not _text(table.get("label")):
            problems.append(f"entity {entity!r} has no label")
            table = table if isinstance(table, dict) else {}
        else:
            entity_labels[entity] = table["label"].strip()
        labels = table.get("fields", {})
        labels = labels if isinstance(labels, dict) else {}
        known = entity_fields(entity)
        for name in labels:
            if name not in known:
                problems.append(f"label for unknown field '{entity}.{name}'")
        for name in known:
            if _text(labels.get(name)):
                field_labels[f"{entity}.{name}"] = labels[name].strip()
            else:
                problems.append(f"field '{entity}.{name}' has no label")
    return entity_labels, field_labels


def _scope(
    index: int, raw: object, categories: tuple[str, ...], problems: list[str]
) -> Scope | None:
    """One validated scope, or None (with the reasons added to problems)."""
    if not isinstance(raw, dict):
        problems.append(f"scope #{index} is not a table")
        return None
    name = raw.get("name")
    if not _text(name):
        problems.append(f"scope #{index} has no name")
        return None
    before = len(problems)
    label = f"scope {name!r}"
    # A sign-in scope lists the claims it releases instead of fields.
    required = _REQUIRED_KEYS - {"fields"} if "claims" in raw else _REQUIRED_KEYS
    missing = sorted(required - raw.keys())
    if missing:
        problems.append(f"{label} is missing {', '.join(missing)}")
    unknown = sorted(raw.keys() - _REQUIRED_KEYS - _OPTIONAL_KEYS)
    if unknown:
        problems.append(f"{label} has unknown key(s) {', '.join(unknown)}")

    category = raw.get("category")
    if "category" in raw and category not in categories:
        problems.append(f"{label} has unknown category {category!r}")
    kind = raw.get("kind")
    if "kind" in raw and kind not in KINDS:
        problems.append(f"{label} has kind {kind!r}; kind must be 'read' or 'write'")
    flags = {
        key: raw.get(key, default)
        for key, default in (
            ("sensitive", False),
            ("deprecated", False),
            ("consent_required", True),
        )
    }
    for key, value in flags.items():
        if not isinstance(value, bool):
            problems.append(f"{label}: {key} must be true or false")
    description = raw.get("description")
    if "description" in raw and not _text(description):
        problems.append(f"{label} needs a description")

    fields = raw.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        problems.append(f"{label}: fields must be a list of 'entity.field' names")
        fields = []
    for field in sorted({f for f in fields if fields.count(f) > 1}):
        problems.append(f"{label} lists field {field!r} more than once")
    for field in fields:
        _check_field(label, field, write=kind == "write", problems=problems)
    claims = _claims(label, raw.get("claims", []), problems)
    if claims and (fields or kind != "read" or category != SIGN_IN_CATEGORY):
        problems.append(
            f"{label}: a scope releasing claims is a read scope of category "
            f"{SIGN_IN_CATEGORY!r} and unlocks no fields"
        )
    if not fields and not claims and flags["deprecated"] is not True:
        problems.append(f"{label} unlocks no fields; only a deprecated scope may be empty")
    if flags["consent_required"] is False and (flags["sensitive"] is not False or kind != "read"):
        problems.append(f"{label}: only a non-sensitive read scope can skip consent")

    # The isinstance checks only tell the type checker what the problems above already ensure.
    if len(problems) > before or not (
        isinstance(category, str) and isinstance(kind, str) and isinstance(description, str)
    ):
        return None
    return Scope(
        name=name.strip(),
        category=category,
        kind=kind,
        sensitive=flags["sensitive"],
        deprecated=flags["deprecated"],
        description=" ".join(description.split()),
        fields=tuple(fields),
        consent_required=flags["consent_required"],
        claims=claims,
    )


def _claims(label: str, raw: object, problems: list[str]) -> tuple[str, ...]:
    """A sign-in scope's claims, each one the server knows how to release."""
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        problems.append(f"{label}: claims must be a list of claim names")
        return ()
    for claim in raw:
        if claim not in SIGN_IN_CLAIMS:
            problems.append(f"{label}: no such claim {claim!r}")
    return tuple(dict.fromkeys(raw))


def _check_field(label: str, field: str, *, write: bool, problems: list[str]) -> None:
    entity, dot, name = field.partition(".")
    if not dot or not entity or not name or "." in name:
        problems.append(f"{label}: {field!r} is not of the form 'entity.field'")
    elif entity not in ENTITIES:
        problems.append(f"{label}: {field!r} names unknown entity {entity!r}")
    elif name not in entity_fields(entity):
        problems.append(f"{label}: {field!r}: entity {entity!r} has no field {name!r}")
    elif write and not issubclass(ENTITIES[entity], MisRecord):
        problems.append(f"{label}: {field!r} cannot be written: it is not MIS data")


def _check_reachable(scopes: Iterable[Scope], problems: list[str]) -> None:
    """Every field of every entity must be readable through some current read scope."""
    readable = {f for s in scopes if s.kind == "read" and not s.deprecated for f in s.fields}
    unreachable = [
        f"{entity}.{name}"
        for entity in ENTITIES
        for name in entity_fields(entity)
        if f"{entity}.{name}" not in readable
    ]
    if unreachable:
        problems.append("not readable through any current read scope: " + ", ".join(unreachable))


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


__all__ = [
    "CATALOGUE_PATH",
    "KINDS",
    "SIGN_IN_CATEGORY",
    "SIGN_IN_CLAIMS",
    "Catalogue",
    "CatalogueError",
    "Scope",
    "UnknownScopeError",
    "default_catalogue",
    "load_catalogue",
]
