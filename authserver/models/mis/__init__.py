"""The school's MIS data, one module per family, and the entity names the catalogue uses.

An *entity* is a kind of record (`student`, `session_mark` ...); its *fields* are its
columns other than the bookkeeping ones (`id`, `school_id`, `updated_at`). The entity
`school` is special: it is the organisations `School` row, served without the MIS, and only
its name and URN are fields.
"""

from __future__ import annotations

import functools

from sqlalchemy import inspect

from authserver.models.mis.admissions import AdmissionApplication
from authserver.models.mis.agencies import AGENCY_TYPES, Agency, Agent, StudentAgent
from authserver.models.mis.assessment import AssessmentAspect, AssessmentResult, ExamResult
from authserver.models.mis.attendance import (
    AttendanceCode,
    AttendanceSummary,
    LessonMark,
    SessionMark,
)
from authserver.models.mis.base import BOOKKEEPING_COLUMNS, MisRecord, Tombstone, delete_record
from authserver.models.mis.catering import CashlessAccount, CashlessTransaction, MealChoice
from authserver.models.mis.conduct import Achievement, Behaviour, Detention
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.photos import PERSON_TYPES, Photo
from authserver.models.mis.school import EndpointInfo, SchoolInfo
from authserver.models.mis.sen import (
    EhcPlan,
    SenEvent,
    SenNeed,
    SenProvision,
    SenReview,
    SenStatement,
)
from authserver.models.mis.staff import (
    Staff,
    StaffAbsence,
    StaffCheck,
    StaffContract,
    StaffDisability,
    StaffNextOfKin,
    StaffNote,
    StaffPay,
    StaffQualification,
    StaffRole,
)
from authserver.models.mis.structure import (
    ClassMembership,
    Group,
    GroupMembership,
    Lesson,
    Period,
    Room,
    Subject,
    TeachingClass,
)
from authserver.models.mis.students import (
    EnrolmentHistory,
    FundingMonitoring,
    Post16Study,
    SchoolHistory,
    Student,
    StudentNote,
)
from authserver.models.mis.welfare import (
    AlternativeProvision,
    DietaryNeed,
    Exclusion,
    Intervention,
    MedicalCondition,
    ParentalConsent,
    SocialServicesInvolvement,
)
from authserver.models.organisations import School

#: The MIS models, in an order where every model comes after those it refers to.
MIS_MODELS: tuple[type[MisRecord], ...] = (
    SchoolInfo,
    EndpointInfo,
    Staff,
    StaffContract,
    StaffRole,
    StaffPay,
    StaffQualification,
    StaffAbsence,
    StaffCheck,
    StaffDisability,
    StaffNextOfKin,
    StaffNote,
    Subject,
    Room,
    Period,
    Group,
    TeachingClass,
    Student,
    StudentNote,
    EnrolmentHistory,
    SchoolHistory,
    FundingMonitoring,
    Post16Study,
    GroupMembership,
    ClassMembership,
    Lesson,
    Contact,
    StudentContact,
    AttendanceCode,
    SessionMark,
    LessonMark,
    AttendanceSummary,
    Behaviour,
    Achievement,
    Detention,
    AssessmentAspect,
    AssessmentResult,
    ExamResult,
    MedicalCondition,
    DietaryNeed,
    Exclusion,
    SocialServicesInvolvement,
    ParentalConsent,
    Intervention,
    AlternativeProvision,
    SenNeed,
    SenProvision,
    EhcPlan,
    SenStatement,
    SenReview,
    SenEvent,
    Agency,
    Agent,
    StudentAgent,
    MealChoice,
    CashlessAccount,
    CashlessTransaction,
    AdmissionApplication,
    Photo,
)

#: Entity name to model class; `school` is the organisations model, not an MIS one.
ENTITIES: dict[str, type] = {"school": School} | {m.__entity__: m for m in MIS_MODELS}

#: The only fields of `school`: what anyone may know about a school without consent.
SCHOOL_PUBLIC_FIELDS = ("name", "urn")


@functools.cache
def entity_fields(entity: str) -> tuple[str, ...]:
    """The field names of an entity, in column order; KeyError if the entity is unknown."""
    model = ENTITIES[entity]
    if model is School:
        return SCHOOL_PUBLIC_FIELDS
    return tuple(
        column.key for column in inspect(model).columns if column.key not in BOOKKEEPING_COLUMNS
    )


__all__ = [
    "AGENCY_TYPES",
    "ENTITIES",
    "MIS_MODELS",
    "PERSON_TYPES",
    "SCHOOL_PUBLIC_FIELDS",
    "Achievement",
    "AdmissionApplication",
    "Agency",
    "Agent",
    "AlternativeProvision",
    "AssessmentAspect",
    "AssessmentResult",
    "AttendanceCode",
    "AttendanceSummary",
    "Behaviour",
    "CashlessAccount",
    "CashlessTransaction",
    "ClassMembership",
    "Contact",
    "Detention",
    "DietaryNeed",
    "EhcPlan",
    "EndpointInfo",
    "EnrolmentHistory",
    "ExamResult",
    "Exclusion",
    "FundingMonitoring",
    "Group",
    "GroupMembership",
    "Intervention",
    "Lesson",
    "LessonMark",
    "MealChoice",
    "MedicalCondition",
    "MisRecord",
    "ParentalConsent",
    "Period",
    "Photo",
    "Post16Study",
    "Room",
    "SchoolHistory",
    "SchoolInfo",
    "SenEvent",
    "SenNeed",
    "SenProvision",
    "SenReview",
    "SenStatement",
    "SessionMark",
    "SocialServicesInvolvement",
    "Staff",
    "StaffAbsence",
    "StaffCheck",
    "StaffContract",
    "StaffDisability",
    "StaffNextOfKin",
    "StaffNote",
    "StaffPay",
    "StaffQualification",
    "StaffRole",
    "Student",
    "StudentAgent",
    "StudentContact",
    "StudentNote",
    "Subject",
    "TeachingClass",
    "Tombstone",
    "delete_record",
    "entity_fields",
]
