"""Which handler takes which command: contract in, the desk's use case, contract out. Every
command, its actor, its target and its result go to the audit trail, refusals included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from contracts.common import JobResult
from contracts.common import Command, ErrorCode
from contracts.filing import (
    SERVICE,
    ChangeFiling,
    CompleteFiling,
    FilingAccepted,
    FilingDetail,
    FilingPage,
    GetFiling,
    ListFilings,
    PurgeExpiredFilings,
    ReencryptFilings,
    ReturnFiling,
    SubmitBulkFiling,
    SubmitFiling,
    WithdrawFiling,
)
from services.filing.desk import Trail
from services.runtime.errors import DomainError
from services.runtime.handlers import handles

if TYPE_CHECKING:
    from services.filing.app import FilingService

C = TypeVar("C", bound=Command)
R = TypeVar("R")


async def audited(service: FilingService, cmd: C, use_case: Callable[[C, Trail], Awaitable[R]]) -> R:
    trail = Trail()
    try:
        reply = await use_case(cmd, trail)
    except DomainError as exc:
        await service.auditor.record(
            type(cmd).__name__, actor=trail.actor, target=trail.target, result=exc.code.value, details=trail.details
        )
        raise
    except Exception:
        await service.auditor.record(
            type(cmd).__name__, actor=trail.actor, target=trail.target, result=ErrorCode.INTERNAL.value, details=trail.details
        )
        raise
    await service.auditor.record(type(cmd).__name__, actor=trail.actor, target=trail.target, result="ok", details=trail.details)
    return reply


def register(service: FilingService) -> None:
    router = service.router

    @handles(router, SubmitFiling, SERVICE)
    async def submit(cmd: SubmitFiling) -> FilingAccepted:
        return await audited(service, cmd, service.desk.submit)

    @handles(router, SubmitBulkFiling, SERVICE)
    async def submit_bulk(cmd: SubmitBulkFiling) -> FilingAccepted:
        return await audited(service, cmd, service.desk.submit_bulk)

    @handles(router, ChangeFiling, SERVICE)
    async def change(cmd: ChangeFiling) -> FilingAccepted:
        return await audited(service, cmd, service.desk.change)

    @handles(router, WithdrawFiling, SERVICE)
    async def withdraw(cmd: WithdrawFiling) -> FilingAccepted:
        return await audited(service, cmd, service.desk.withdraw)

    @handles(router, CompleteFiling, SERVICE)
    async def complete(cmd: CompleteFiling) -> FilingAccepted:
        return await audited(service, cmd, service.desk.complete)

    @handles(router, ReturnFiling, SERVICE)
    async def return_for_fix(cmd: ReturnFiling) -> FilingAccepted:
        return await audited(service, cmd, service.desk.return_for_fix)

    @handles(router, ListFilings, SERVICE)
    async def list_filings(cmd: ListFilings) -> FilingPage:
        return await audited(service, cmd, service.desk.list)

    @handles(router, GetFiling, SERVICE)
    async def get_filing(cmd: GetFiling) -> FilingDetail:
        return await audited(service, cmd, service.desk.get)

    @handles(router, PurgeExpiredFilings, SERVICE)
    async def purge_expired(cmd: PurgeExpiredFilings) -> JobResult:
        return await audited(service, cmd, service.desk.purge_expired)

    @handles(router, ReencryptFilings, SERVICE)
    async def reencrypt(cmd: ReencryptFilings) -> JobResult:
        return await audited(service, cmd, service.desk.reencrypt)
