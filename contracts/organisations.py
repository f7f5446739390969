"""Organisation kinds, shared by auth (accounts) and filing (which kinds an organisation may file)."""

from __future__ import annotations

from enum import StrEnum


class OrganisationKind(StrEnum):
    ACCEPTING_ORGANISATION = "accepting_organisation"
    REGISTERED_SUPPORT_ORGANISATION = "registered_support_organisation"
    JAPANESE_LANGUAGE_SCHOOL = "japanese_language_school"

    @property
    def label(self) -> str:
        return ORGANISATION_KIND_LABELS[self]


ORGANISATION_KIND_LABELS: dict[OrganisationKind, str] = {
    OrganisationKind.ACCEPTING_ORGANISATION: "特定技能所属機関",
    OrganisationKind.REGISTERED_SUPPORT_ORGANISATION: "登録支援機関",
    OrganisationKind.JAPANESE_LANGUAGE_SCHOOL: "日本語教育機関",
}


class Role(StrEnum):
    ORGANISATION = "organisation"
    OFFICER = "officer"
