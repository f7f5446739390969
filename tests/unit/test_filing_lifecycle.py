"""Every transition of a filing, allowed and refused, as pure decisions (SPEC §2 Statuses)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.auth import Organisation
from contracts.common import ErrorCode
from contracts.filing import (
    FilingChanged,
    FilingCompleted,
    FilingKind,
    FilingReturned,
    FilingStatus,
    FilingSubmitted,
    FilingWithdrawn,
)
from contracts.organisations import OrganisationKind, Role
from services.filing.domain import lifecycle
from services.filing.domain.lifecycle import Caller
from services.runtime.errors import DomainError

NOW = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)
SCHOOL = Organisation(organisation_id="1000000000001", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="さくら日本語学校")
COMPANY = Organisation(organisation_id="2000000000002", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社みなと")
OTHER_SCHOOL = Organisation(organisation_id="3000000000003", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="他校")
SEALED = [{"name_latin": "k1:x:y"}]


def filer(org: Organisation) -> Caller:
    return Caller(role=Role.ORGANISATION, auth_id=f"user-{org.organisation_id[:4]}", email="f@example.jp", organisation=org)


OFFICER = Caller(role=Role.OFFICER, auth_id="officer01", email="o@example.go.jp", organisation=None)


def submitted(org: Organisation = SCHOOL, kind: FilingKind = FilingKind.SCHOOL_ADHOC_REPORT) -> lifecycle.FilingRecord:
    record, events = lifecycle.submit("20270401-000001", kind, filer(org), SEALED, NOW, bulk=False)
    assert [d.kind for d in events] == [FilingSubmitted]
    return record


def refused(fn, code: ErrorCode) -> DomainError:
    with pytest.raises(DomainError) as err:
        fn()
    assert err.value.code == code, err.value.message
    assert any("\u3040" <= ch <= "\u9fff" for ch in err.value.message)
    return err.value


def in_status(status: FilingStatus) -> lifecycle.FilingRecord:
    record = submitted()
    if status == FilingStatus.RETURNED:
        record, _ = lifecycle.return_for_fix(record, OFFICER, record.version, ["写真が不鮮明です"], NOW)
    elif status == FilingStatus.COMPLETED:
        record, _ = lifecycle.complete(record, OFFICER, record.version, NOW)
    elif status == FilingStatus.WITHDRAWN:
        record, _ = lifecycle.withdraw(record, filer(SCHOOL), record.version, NOW)
    assert record.status == status
    return record


# ---- submit ------------------------------------------------------------------------------


def test_a_submitted_filing_is_pending_at_version_1_with_facts_but_no_personal_data_in_its_event():
    record, (event,) = lifecycle.submit("20270401-000001", FilingKind.SCHOOL_ADHOC_REPORT, filer(SCHOOL), SEALED, NOW, bulk=True)
    assert record.status == FilingStatus.PENDING and record.version == 1
    assert isinstance(event.event, FilingSubmitted) and event.event.bulk is True
    facts = event.event.filing
    assert facts.reception_number == "20270401-000001" and facts.person_count == 1
    assert facts.filer_email == "f@example.jp" and facts.organisation == SCHOOL
    assert "k1:x:y" not in facts.model_dump_json()


def test_an_organisation_may_file_only_its_own_kinds():
    err = refused(
        lambda: lifecycle.submit("R", FilingKind.EMPLOYMENT_CONTRACT_CHANGE, filer(SCHOOL), SEALED, NOW, bulk=False),
        ErrorCode.VALIDATION,
    )
    assert err.fields[0].field == "kind" and err.fields[0].code == "kind_not_allowed"


def test_an_officer_cannot_submit():
    refused(lambda: lifecycle.submit("R", FilingKind.SCHOOL_ADHOC_REPORT, OFFICER, SEALED, NOW, bulk=False), ErrorCode.FORBIDDEN)


# ---- change / fix ------------------------------------------------------------------------


def test_changing_a_pending_filing_keeps_it_pending_and_bumps_the_version():
    record = in_status(FilingStatus.PENDING)
    new, (event,) = lifecycle.change(record, filer(SCHOOL), record.version, SEALED * 2, NOW + timedelta(hours=1))
    assert new.status == FilingStatus.PENDING and new.version == record.version + 1
    changed = event.event
    assert isinstance(changed, FilingChanged) and changed.was_fix is False and changed.filing.person_count == 2


def test_fixing_a_returned_report_puts_it_back_to_pending_as_a_fix():
    record = in_status(FilingStatus.RETURNED)
    new, (event,) = lifecycle.change(record, filer(SCHOOL), record.version, SEALED, NOW)
    assert new.status == FilingStatus.PENDING and isinstance(event.event, FilingChanged) and event.event.was_fix is True
    assert record.return_reasons and new.return_reasons == []


@pytest.mark.parametrize("status", [FilingStatus.COMPLETED, FilingStatus.WITHDRAWN])
def test_final_filings_cannot_be_changed_or_withdrawn(status):
    record = in_status(status)
    refused(lambda: lifecycle.change(record, filer(SCHOOL), record.version, SEALED, NOW), ErrorCode.INVALID_STATE)
    refused(lambda: lifecycle.withdraw(record, filer(SCHOOL), record.version, NOW), ErrorCode.INVALID_STATE)


def test_a_change_based_on_an_older_version_is_refused_as_stale():
    record = in_status(FilingStatus.PENDING)
    changed, _ = lifecycle.change(record, filer(SCHOOL), record.version, SEALED, NOW)
    err = refused(lambda: lifecycle.change(changed, filer(SCHOOL), record.version, SEALED, NOW), ErrorCode.STALE)
    assert err.details["current_version"] == changed.version
    refused(lambda: lifecycle.withdraw(changed, filer(SCHOOL), record.version, NOW), ErrorCode.STALE)
    refused(lambda: lifecycle.complete(changed, OFFICER, record.version, NOW), ErrorCode.STALE)
    refused(lambda: lifecycle.return_for_fix(changed, OFFICER, record.version, ["理由"], NOW), ErrorCode.STALE)


def test_another_organisation_cannot_change_or_withdraw_and_is_told_it_does_not_exist():
    record = in_status(FilingStatus.PENDING)
    refused(lambda: lifecycle.change(record, filer(OTHER_SCHOOL), record.version, SEALED, NOW), ErrorCode.NOT_FOUND)
    refused(lambda: lifecycle.withdraw(record, filer(OTHER_SCHOOL), record.version, NOW), ErrorCode.NOT_FOUND)


def test_an_officer_cannot_change_or_withdraw_a_filing():
    record = in_status(FilingStatus.PENDING)
    refused(lambda: lifecycle.change(record, OFFICER, record.version, SEALED, NOW), ErrorCode.FORBIDDEN)
    refused(lambda: lifecycle.withdraw(record, OFFICER, record.version, NOW), ErrorCode.FORBIDDEN)


# ---- withdraw ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [FilingStatus.PENDING, FilingStatus.RETURNED])
def test_the_filer_may_withdraw_a_pending_or_returned_filing_and_it_becomes_final(status):
    record = in_status(status)
    later = NOW + timedelta(days=2)
    new, (event,) = lifecycle.withdraw(record, filer(SCHOOL), record.version, later)
    assert new.status == FilingStatus.WITHDRAWN and new.status.final and new.finalised_at == later
    assert event.kind is FilingWithdrawn


# ---- officer decisions -------------------------------------------------------------------


def test_an_officer_completes_a_pending_filing_and_it_becomes_final():
    record = in_status(FilingStatus.PENDING)
    new, (event,) = lifecycle.complete(record, OFFICER, record.version, NOW)
    assert new.status == FilingStatus.COMPLETED and new.finalised_at == NOW and event.kind is FilingCompleted


@pytest.mark.parametrize("status", [FilingStatus.RETURNED, FilingStatus.COMPLETED, FilingStatus.WITHDRAWN])
def test_only_a_pending_filing_can_be_completed(status):
    record = in_status(status)
    refused(lambda: lifecycle.complete(record, OFFICER, record.version, NOW), ErrorCode.INVALID_STATE)


def test_an_officer_returns_a_school_report_with_reasons_for_the_filer():
    record = in_status(FilingStatus.PENDING)
    new, (event,) = lifecycle.return_for_fix(record, OFFICER, record.version, [" 写真が不鮮明です ", ""], NOW)
    assert new.status == FilingStatus.RETURNED and new.return_reasons == ["写真が不鮮明です"]
    assert isinstance(event.event, FilingReturned) and event.event.reasons == ["写真が不鮮明です"]


def test_filings_of_other_organisation_kinds_cannot_be_returned():
    record = submitted(COMPANY, FilingKind.EMPLOYMENT_CONTRACT_CHANGE)
    err = refused(lambda: lifecycle.return_for_fix(record, OFFICER, record.version, ["理由"], NOW), ErrorCode.INVALID_STATE)
    assert "日本語教育機関" in err.message


@pytest.mark.parametrize("status", [FilingStatus.RETURNED, FilingStatus.COMPLETED, FilingStatus.WITHDRAWN])
def test_only_a_pending_report_can_be_returned(status):
    record = in_status(status)
    refused(lambda: lifecycle.return_for_fix(record, OFFICER, record.version, ["理由"], NOW), ErrorCode.INVALID_STATE)


def test_a_return_needs_at_least_one_reason():
    record = in_status(FilingStatus.PENDING)
    err = refused(lambda: lifecycle.return_for_fix(record, OFFICER, record.version, ["  "], NOW), ErrorCode.VALIDATION)
    assert err.fields[0].field == "reasons"


def test_an_organisation_can_never_complete_or_return():
    record = in_status(FilingStatus.PENDING)
    refused(lambda: lifecycle.complete(record, filer(SCHOOL), record.version, NOW), ErrorCode.FORBIDDEN)
    refused(lambda: lifecycle.return_for_fix(record, filer(SCHOOL), record.version, ["理由"], NOW), ErrorCode.FORBIDDEN)


# ---- retention ---------------------------------------------------------------------------


def test_only_filings_final_for_longer_than_the_retention_period_expire():
    done = in_status(FilingStatus.COMPLETED)
    assert not lifecycle.expired(done, NOW + timedelta(days=365), 365)
    assert lifecycle.expired(done, NOW + timedelta(days=365, seconds=1), 365)
    assert not lifecycle.expired(in_status(FilingStatus.PENDING), NOW + timedelta(days=3650), 365)
    assert not lifecycle.expired(in_status(FilingStatus.RETURNED), NOW + timedelta(days=3650), 365)
