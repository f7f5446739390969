"""A service process for the exactly-once kill tests: hosts the named services on a real
nats-server with a clock the test sets (ENS_TEST_NOW), and SIGKILLs itself the moment a chosen
command (ENS_TEST_CRASH_COMMAND) has made its change and before its reply is stored — the one
window in which a retry could turn into a second change. Prints `ready` once serving."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from typing import Any

from services.runtime import pipeline
from services.runtime.clock import FakeClock
from tests.support.suite import running


def crash_before_the_reply_is_stored(command: str) -> None:
    run_keyed = pipeline.Pipeline._run_keyed

    async def run_then_die(self: Any, use_case: Any, cmd: Any, ctx: Any, claim: Any) -> Any:
        reply = await run_keyed(self, use_case, cmd, ctx, claim)
        if type(cmd).__name__ == command:  # changed, and the claim not yet finished: die here
            os.kill(os.getpid(), signal.SIGKILL)
        return reply

    pipeline.Pipeline._run_keyed = run_then_die  # type: ignore[method-assign]


async def main() -> None:
    crash_before_the_reply_is_stored(os.environ["ENS_TEST_CRASH_COMMAND"])
    clock = FakeClock(datetime.fromisoformat(os.environ["ENS_TEST_NOW"]))
    async with running(sys.argv[1:], os.environ["ENS_NATS_URL"], clock=clock):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
