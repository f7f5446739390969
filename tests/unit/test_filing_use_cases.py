"""The filing use cases over fakes of their ports (store, sessions, cipher, clock): what each
command does to a filing, which events it records, what goes to the audit trail, and who is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from contracts.auth import Organisation
from contracts.common import ErrorCode
from contracts.filing import (
    ChangeFiling,
    CompleteFiling,
    FilingChanged,
    FilingCompleted,
    FilingKind,
    FilingReturned,
    FilingStatus,
    FilingSubmitted,
    FilingWithdrawn,
    GetFiling,
    ListFilings,
    Person,
    PurgeExpiredFilings,
    ReturnFiling,
    Sex,
    SubmitFiling,
    WithdrawFiling,
)
from contracts.organisations import OrganisationKind, Role
from services.filing import filer, officer
from services.filing.domain.lifecycle import Caller
from services.filing.handlers import HANDLERS
from services.filing.ports import FilingDeps
from services.runtime.clock import FakeClock
from services.runtime.errors import DomainError
from tests.fakes.filing import MemoryContacts, MemoryFilingStore, context, filing_deps

NOW = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
SCHOOL = Organisation(organisation_id="SCHOOL-A", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="さくら日本語学校")
OTHER = Organisation(organisation_id="SCHOOL-B", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="みどり日本語学院")
FILER = "f" * 20
OTHER_FILER = "o" * 20
OFFICER = "x" * 20
SESSIONS = {
    FILER: Caller(role=Role.ORGANISATION, auth_id="sakura-user", email="s@example.jp", organisation=SCHOOL),
    OTHER_FILER: Caller(role=Role.ORGANISATION, auth_id="midori-user", email="m@example.jp", organisation=OTHER),
    OFFICER: Caller(role=Role.OFFICER, auth_id="officer01", email="o@example.go.jp", organisation=None),
}


def person(card: str = "AB12345678CD") -> Person:
    return Person(
        nationality="VNM",
        name_latin="NGUYEN VAN AN",
        sex=Sex.MALE,
        date_of_birth=date(1998, 4, 1),
        residence_card_number=card,
        event_date=date(2027, 3, 1),
    )


@pytest.fixture
def deps() -> FilingDeps:
    return filing_deps(FakeClock(NOW), SESSIONS)


def store(deps: FilingDeps) -> MemoryFilingStore:
    assert isinstance(deps.store, MemoryFilingStore)
    return deps.store


async def submitted(deps: FilingDeps) -> str:
    reply = await filer.submit(
        SubmitFiling(session_token=FILER, kind=FilingKind.SCHOOL_ADHOC_REPORT, persons=[person()]), context(deps, FILER)
    )
    return reply.filing.reception_number


async def refused(code: ErrorCode, run) -> DomainError:
    with pytest.raises(DomainError) as err:
        await run
    assert err.value.code == code
    return err.value


async def test_a_submission_gets_the_days_next_number_stores_ciphertexts_and_records_its_event(deps):
    ctx = context(deps, FILER)
    reply = await filer.submit(SubmitFiling(session_token=FILER, kind=FilingKind.SCHOOL_ADHOC_REPORT, persons=[person()]), ctx)
    assert reply.filing.reception_number == "20270401-000001" and reply.filing.status == FilingStatus.PENDING
    record, _ = store(deps).filings["20270401-000001"]
    assert all(v.startswith("plain:20270401-000001:0:") for v in record.persons[0].values())  # sealed by the cipher
    (event,) = store(deps).events
    assert isinstance(event.event, FilingSubmitted) and event.event.filing.filer_auth_id == "sakura-user"
    assert (ctx.trail.actor, ctx.trail.target) == ("sakura-user", "20270401-000001")
    assert ctx.trail.details == {"kind": "school_adhoc_report", "person_count": 1, "bulk": False}


async def test_a_submission_without_a_live_session_is_unauthenticated_and_stores_nothing(deps):
    cmd = SubmitFiling(session_token="d" * 20, kind=FilingKind.SCHOOL_ADHOC_REPORT, persons=[person()])
    await refused(ErrorCode.UNAUTHENTICATED, filer.submit(cmd, context(deps, "d" * 20)))
    assert store(deps).filings == {} and store(deps).events == []


async def test_an_officer_cannot_submit(deps):
    cmd = SubmitFiling(session_token=OFFICER, kind=FilingKind.SCHOOL_ADHOC_REPORT, persons=[person()])
    await refused(ErrorCode.FORBIDDEN, filer.submit(cmd, context(deps, OFFICER)))


async def test_every_bad_person_is_reported_and_nothing_is_numbered(deps):
    cmd = SubmitFiling(session_token=FILER, kind=FilingKind.SCHOOL_ADHOC_REPORT, persons=[person("bad"), person("AB12345678CD")])
    err = await refused(ErrorCode.VALIDATION, filer.submit(cmd, context(deps, FILER)))
    assert [f.field for f in err.fields] == ["persons.0.residence_card_number"]
    assert store(deps).counters == {}


async def test_a_change_based_on_an_old_version_is_stale(deps):
    number = await submitted(deps)
    await filer.change(
        ChangeFiling(session_token=FILER, reception_number=number, based_on_version=1, persons=[person()]),
        context(deps, FILER),
    )
    err = await refused(
        ErrorCode.STALE,
        filer.change(
            ChangeFiling(session_token=FILER, reception_number=number, based_on_version=1, persons=[person()]),
            context(deps, FILER),
        ),
    )
    assert err.details == {"current_version": 2, "based_on_version": 1}
    assert [type(d.event) for d in store(deps).events] == [FilingSubmitted, FilingChanged]


async def test_a_change_that_loses_the_race_for_the_entry_is_stale_too(deps):
    number = await submitted(deps)
    memory = store(deps)
    read = memory.get

    async def get_then_someone_writes(key: str):
        found = await read(key)
        memory.touch(key)
        return found

    memory.get = get_then_someone_writes  # type: ignore[method-assign]
    err = await refused(
        ErrorCode.STALE,
        filer.withdraw(WithdrawFiling(session_token=FILER, reception_number=number, based_on_version=1), context(deps, FILER)),
    )
    assert err.details == {"based_on_version": 1}


async def test_another_organisations_filing_is_not_found_exactly_like_a_missing_one(deps):
    number = await submitted(deps)
    commands = [
        lambda n: filer.change(
            ChangeFiling(session_token=OTHER_FILER, reception_number=n, based_on_version=1, persons=[person()]),
            context(deps, OTHER_FILER),
        ),
        lambda n: filer.withdraw(
            WithdrawFiling(session_token=OTHER_FILER, reception_number=n, based_on_version=1), context(deps, OTHER_FILER)
        ),
        lambda n: filer.get_filing(GetFiling(session_token=OTHER_FILER, reception_number=n), context(deps, OTHER_FILER)),
    ]
    for run in commands:
        theirs = await refused(ErrorCode.NOT_FOUND, run(number))
        missing = await refused(ErrorCode.NOT_FOUND, run("20270401-999999"))
        assert theirs.message.replace(number, "N") == missing.message.replace("20270401-999999", "N")
    assert store(deps).filings[number][0].version == 1


async def test_withdrawing_makes_the_filing_final_and_records_the_event(deps):
    number = await submitted(deps)
    ctx = context(deps, FILER)
    reply = await filer.withdraw(WithdrawFiling(session_token=FILER, reception_number=number, based_on_version=1), ctx)
    assert reply.filing.status == FilingStatus.WITHDRAWN and reply.filing.finalised_at == NOW
    assert store(deps).events[-1].kind is FilingWithdrawn
    assert (ctx.trail.actor, ctx.trail.target, ctx.trail.details) == (
        "sakura-user",
        number,
        {"status": "withdrawn", "version": 2},
    )


async def test_only_an_officer_completes_or_returns_a_filing(deps):
    number = await submitted(deps)
    err = await refused(
        ErrorCode.FORBIDDEN,
        officer.complete(CompleteFiling(session_token=FILER, reception_number=number, based_on_version=1), context(deps, FILER)),
    )
    assert err.message == "この操作は入管職員のみが行えます。"
    await refused(
        ErrorCode.FORBIDDEN,
        officer.return_for_fix(
            ReturnFiling(session_token=FILER, reception_number=number, based_on_version=1, reasons=["写真"]),
            context(deps, FILER),
        ),
    )
    ctx = context(deps, OFFICER)
    reply = await officer.complete(CompleteFiling(session_token=OFFICER, reception_number=number, based_on_version=1), ctx)
    assert reply.filing.status == FilingStatus.COMPLETED and store(deps).events[-1].kind is FilingCompleted
    assert ctx.trail.actor == "officer01"


async def test_a_returned_report_carries_its_reasons_and_its_fix_is_a_change_marked_as_a_fix(deps):
    number = await submitted(deps)
    returned = await officer.return_for_fix(
        ReturnFiling(session_token=OFFICER, reception_number=number, based_on_version=1, reasons=[" 写真が不鮮明です "]),
        context(deps, OFFICER),
    )
    assert returned.filing.status == FilingStatus.RETURNED and returned.filing.return_reasons == ["写真が不鮮明です"]
    event = store(deps).events[-1].event
    assert isinstance(event, FilingReturned) and event.reasons == ["写真が不鮮明です"]
    listing = await filer.list_filings(ListFilings(session_token=FILER), context(deps, FILER))
    assert listing.items[0].return_reasons == ["写真が不鮮明です"]
    fixed = await filer.change(
        ChangeFiling(session_token=FILER, reception_number=number, based_on_version=2, persons=[person()]),
        context(deps, FILER),
    )
    assert fixed.filing.status == FilingStatus.PENDING and fixed.filing.return_reasons == []
    change = store(deps).events[-1].event
    assert isinstance(change, FilingChanged) and change.was_fix


async def test_the_filer_reads_back_the_persons_decrypted(deps):
    number = await submitted(deps)
    detail = await filer.get_filing(GetFiling(session_token=FILER, reception_number=number), context(deps, FILER))
    assert detail.persons == [person()]


async def test_a_filer_cannot_list_another_organisations_filings_and_an_officer_must_name_one(deps):
    await submitted(deps)
    await refused(
        ErrorCode.FORBIDDEN,
        filer.list_filings(ListFilings(session_token=FILER, organisation_id="SCHOOL-B"), context(deps, FILER)),
    )
    await refused(ErrorCode.VALIDATION, filer.list_filings(ListFilings(session_token=OFFICER), context(deps, OFFICER)))
    ctx = context(deps, OFFICER)
    page = await filer.list_filings(ListFilings(session_token=OFFICER, organisation_id="SCHOOL-A"), ctx)
    assert page.total == 1 and ctx.trail.target == "SCHOOL-A"


async def test_the_fix_request_goes_to_the_organisations_address_now_not_the_one_used_at_submission(deps):
    """Issue 15 item 1: submitted as old@, the address changed, then the report was returned."""
    contacts = deps.contacts
    assert isinstance(contacts, MemoryContacts)
    contacts.addresses[SCHOOL.organisation_id] = "old@example.jp"
    number = await submitted(deps)
    submitted_event = store(deps).events[-1].event
    assert isinstance(submitted_event, FilingSubmitted) and submitted_event.filing.filer_email == "old@example.jp"
    renamed = SCHOOL.model_copy(update={"name": "さくら国際日本語学校"})
    contacts.addresses[SCHOOL.organisation_id] = "new@example.jp"
    contacts.organisations[SCHOOL.organisation_id] = renamed
    await officer.return_for_fix(
        ReturnFiling(session_token=OFFICER, reception_number=number, based_on_version=1, reasons=["在籍者数の記載漏れ"]),
        context(deps, OFFICER),
    )
    returned = store(deps).events[-1].event
    assert isinstance(returned, FilingReturned)
    assert returned.filing.filer_email == "new@example.jp" and returned.filing.organisation == renamed
    # The stored filing keeps what its filer had; only the mail's address follows the registration.
    found = await deps.store.get(number)
    assert found is not None and found[0].filer_email == "s@example.jp" and found[0].organisation == SCHOOL


async def test_a_purge_dated_in_the_future_is_refused_by_filing_itself_unless_forced(deps):
    """Issue 15 item 4: a `.system.` request dated 2099 purged filings completed seconds earlier."""
    number = await submitted(deps)
    await officer.complete(
        CompleteFiling(session_token=OFFICER, reception_number=number, based_on_version=1), context(deps, OFFICER)
    )
    purge = HANDLERS[PurgeExpiredFilings]
    far = datetime(2099, 1, 1, tzinfo=UTC)
    err = await refused(ErrorCode.VALIDATION, purge(PurgeExpiredFilings(as_of=far), context(deps, None)))
    assert [f.field for f in err.fields] == ["as_of"]
    assert await deps.store.get(number) is not None
    await purge(PurgeExpiredFilings(as_of=far, force=True), context(deps, None))
    assert await deps.store.get(number) is None
