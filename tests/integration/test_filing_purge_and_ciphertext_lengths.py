"""Personal data really gone, really hidden (issue 16), read from the raw JetStream store of a
real nats-server: after the retention purge no revision of a purged filing's entry is left in
the bucket's stream (what any reader of the store gets over the JetStream API, by sequence), and in a stored filing every value of a
field has the same ciphertext length."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from contracts import auth as a
from contracts import filing as f
from contracts.client import CommandRefused, EnsClient
from contracts.common import ErrorCode
from contracts.organisations import OrganisationKind
from ens.suite import build_services
from services.filing.adapters.cipher import PersonCipher
from services.filing.app import FilingService
from services.filing.domain import nationalities
from services.filing.settings import FilingSettings
from services.runtime.clock import FakeClock
from services.runtime.settings import RuntimeSettings
from tests.conftest import TEST_KEY_1, TEST_OPERATOR_TOKEN
from tests.support.suite import running

START = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)
NEXT_DAY_0900_JST = datetime(2027, 4, 2, 0, 0, tzinfo=UTC)
PASSWORD = "Secret#123abc"
SCHOOL = a.Organisation(organisation_id="SCHOOL-P", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="さくら日本語学校")


def hosting(nats_url: str, clock: FakeClock, **settings):
    runtime = RuntimeSettings(nats_url=nats_url)
    filing = FilingService(runtime, FilingSettings(keys=f"k1:{TEST_KEY_1}", **settings), clock)
    return running(None, nats_url, clock=clock, services=[*build_services(["auth"], runtime, clock), filing])


async def school_and_officer(client: EnsClient, clock: FakeClock) -> tuple[str, str]:
    await client.call(
        a.CreateOfficer(
            operator_token=TEST_OPERATOR_TOKEN,
            auth_id="officer01",
            password="Officer#2027x",
            name="審査",
            email="o@example.go.jp",
        )
    )
    officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
    await client.call(
        a.RegisterAccount(
            session_token=officer, organisation=SCHOOL, auth_id="sakura-user", initial_password=PASSWORD, email="s@example.jp"
        )
    )
    clock.set(NEXT_DAY_0900_JST)
    await client.call(a.ActivateDueRegistrations(as_of=clock.now()))
    school = (await client.call(a.Login(auth_id="sakura-user", password=PASSWORD))).session_token
    officer = (await client.call(a.Login(auth_id="officer01", password="Officer#2027x"))).session_token
    return school, officer


def varied_persons(count: int, offset: int = 0) -> list[f.Person]:
    codes = [n.code for n in nationalities.nationalities()]
    return [
        f.Person(
            nationality=codes[(i + offset) % len(codes)],
            name_latin=["AN", "SANTOS MARIA CLARA", "O'BRIEN-PUTRA BUDI SETIAWAN"][i % 3],
            sex=f.Sex.MALE if i % 2 else f.Sex.FEMALE,
            date_of_birth=date(1960, 1, 1) + timedelta(days=(997 * (i + offset)) % 20000),
            residence_card_number=f"AB{i + offset:08d}CD",
            event_date=date(2027, 3, 1) - timedelta(days=i),
            remarks=["短い", "ｺﾝﾋﾞﾆ勤務", None][i % 3],
        )
        for i in range(count)
    ]


async def raw_stream(nc, stream: str) -> list[bytes]:
    """Every message the stream still holds, read by sequence (deleted ones are skipped)."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except Exception:  # a removed sequence
            continue
        out.append(msg.data or b"")
    return out


def ciphertexts(entry_value: bytes) -> list[str]:
    state = json.loads(entry_value)["state"]
    return [token for person in state["persons"] for token in person.values()]


async def test_a_purged_filing_leaves_no_revision_and_no_ciphertext_in_the_bucket_stream(nats_url, nc, client):
    clock = FakeClock(START)
    async with hosting(nats_url, clock, retention_days=365):
        school, officer = await school_and_officer(client, clock)
        purged = (
            await client.call(
                f.SubmitFiling(session_token=school, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=varied_persons(3))
            )
        ).filing.reception_number
        kept = (
            await client.call(
                f.SubmitFiling(session_token=school, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=varied_persons(2, 50))
            )
        ).filing.reception_number
        # Several revisions of the purged filing, each with its own ciphertexts.
        v = 1
        for n in range(3):
            changed = await client.call(
                f.ChangeFiling(
                    session_token=school, reception_number=purged, based_on_version=v, persons=varied_persons(3, 10 * (n + 1))
                )
            )
            v = changed.filing.version
        await client.call(f.CompleteFiling(session_token=officer, reception_number=purged, based_on_version=v))
        before = await raw_stream(nc, "KV_filing_filings")
        secrets = {
            t.encode() for m in before if m for t in ciphertexts(m) if json.loads(m)["state"]["reception_number"] == purged
        }
        assert len(secrets) >= 4 * 3 * 6  # four written revisions (and the completion) of three persons

        clock.set(clock.now() + timedelta(days=366))
        result = await client.call(f.PurgeExpiredFilings(as_of=clock.now()))
        assert result.changed == 1

        after = await raw_stream(nc, "KV_filing_filings")
        assert not any(s in m for m in after for s in secrets)
        assert all(purged.encode() not in m for m in after)  # not even an old revision's state
        assert any(kept.encode() in m for m in after)  # the other filing is untouched
        index = await raw_stream(nc, "KV_filing_index")
        assert all(purged.encode() not in m for m in index)

        clock.set(NEXT_DAY_0900_JST + timedelta(minutes=10))  # the sessions' time again
        try:
            await client.call(f.GetFiling(session_token=officer, reception_number=purged))
            raise AssertionError("a purged filing was still readable")
        except CommandRefused as err:
            assert err.code == ErrorCode.NOT_FOUND


async def test_in_the_store_every_value_of_a_field_seals_to_one_length(nats_url, nc, client):
    """Every sex, every nationality of the list and a range of dates, stored through the
    service; the raw entries show one ciphertext length per field."""
    clock = FakeClock(START)
    codes = [n.code for n in nationalities.nationalities()]
    async with hosting(nats_url, clock):
        school, _ = await school_and_officer(client, clock)
        count = len(codes)
        for start in range(0, count, f.MAX_PERSONS):
            persons = varied_persons(min(f.MAX_PERSONS, count - start), start)
            await client.call(f.SubmitFiling(session_token=school, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=persons))
        lengths: dict[str, set[int]] = defaultdict(set)
        seen_codes: set[str] = set()
        cipher = PersonCipher({"k1": FilingSettings(keys=f"k1:{TEST_KEY_1}").key_ring()["k1"]})
        for m in await raw_stream(nc, "KV_filing_filings"):
            if not m:
                continue
            state = json.loads(m)["state"]
            for i, sealed in enumerate(state["persons"]):
                seen_codes.add(cipher.open(state["reception_number"], i, sealed).nationality)
                for field, token in sealed.items():
                    lengths[field].add(len(token))
        assert seen_codes == set(codes)
        for field in ("nationality", "sex", "date_of_birth", "residence_card_number", "event_date", "name_latin"):
            assert len(lengths[field]) == 1, (field, lengths[field])


async def test_reencryption_rewrites_ciphertexts_written_before_padding_into_one_length_per_field(nats_url, nc, client):
    """A filing stored as the service wrote it before padding (unpadded tokens, forged here into
    the bucket) still opens; `ReencryptFilings` (`ens filing reencrypt`) rewrites it padded."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from services.runtime.keys import encode_key

    key = FilingSettings(keys=f"k1:{TEST_KEY_1}").key_ring()["k1"]

    def legacy(number: str, index: int, person: f.Person) -> dict[str, str]:
        out = {}
        for field, value in person.model_dump(mode="json").items():
            if value is not None:
                nonce = os.urandom(12)
                ct = AESGCM(key).encrypt(nonce, str(value).encode(), f"ens-filing|{number}|{index}|{field}".encode())
                b64 = [base64.urlsafe_b64encode(x).decode().rstrip("=") for x in (nonce, ct)]
                out[field] = f"k1:{b64[0]}:{b64[1]}"
        return out

    clock = FakeClock(START)
    async with hosting(nats_url, clock):
        school, _ = await school_and_officer(client, clock)
        persons = varied_persons(4)
        number = (
            await client.call(f.SubmitFiling(session_token=school, kind=f.FilingKind.SCHOOL_ADHOC_REPORT, persons=persons))
        ).filing.reception_number
        kv = await nc.jetstream().key_value("filing_filings")
        entry = await kv.get(encode_key(number))
        doc = json.loads(entry.value)
        doc["state"]["persons"] = [legacy(number, i, p) for i, p in enumerate(persons)]
        await kv.update(encode_key(number), json.dumps(doc).encode(), last=entry.revision)
        assert (await client.call(f.GetFiling(session_token=school, reception_number=number))).persons == persons

        result = await client.call(f.ReencryptFilings(as_of=clock.now()))
        assert result.changed == 1
        stored = json.loads((await kv.get(encode_key(number))).value)["state"]["persons"]
        assert all(token.endswith(":1") for p in stored for token in p.values())
        by_field: dict[str, set[int]] = defaultdict(set)
        for p in stored:
            for field, token in p.items():
                by_field[field].add(len(token))
        assert all(len(v) == 1 for field, v in by_field.items() if field != "remarks")
        detail = await client.call(f.GetFiling(session_token=school, reception_number=number))
        assert detail.persons == persons and detail.filing.version == 1
        assert (await client.call(f.ReencryptFilings(as_of=clock.now()))).changed == 0
