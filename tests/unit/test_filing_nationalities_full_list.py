"""The nationality/region list is the full list the agency's forms use (issue 16): every state
Japan recognises but Japan (195), the regions 北朝鮮, 台湾, 香港, マカオ and パレスチナ, and 無国籍;
its data file names its source."""

from __future__ import annotations

from collections import Counter
from importlib import resources

from services.filing.domain.nationalities import by_code, nationalities, resolve

REGIONS_BESIDES_STATES = {"PRK", "TWN", "HKG", "MAC", "PSE"}


def test_the_list_counts_195_states_five_regions_and_stateless():
    items = nationalities()
    assert len(items) == 195 + len(REGIONS_BESIDES_STATES) + 1
    assert set(by_code()) >= REGIONS_BESIDES_STATES
    assert "JPN" not in by_code()  # the persons are foreign nationals


def test_stateless_kosovo_and_palestine_are_on_it_and_resolve_by_name():
    assert resolve("無国籍") is by_code()["XXA"]
    assert resolve("コソボ") is by_code()["XKX"]
    assert resolve("パレスチナ") is by_code()["PSE"]
    assert resolve("南スーダン") is by_code()["SSD"]
    assert resolve("バチカン") is by_code()["VAT"]


def test_regions_hold_as_many_entries_as_the_world_has_there():
    per_region = Counter(n.region for n in nationalities())
    assert per_region == {
        "asia": 31,
        "middle_east": 15,
        "europe": 49,
        "africa": 54,
        "north_america": 2,
        "latin_america": 33,
        "oceania": 16,
        "other": 1,
    }


def test_the_data_file_names_its_source_in_its_header():
    text = resources.files("services.filing").joinpath("data/nationalities.csv").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("mofa.go.jp" in line for line in header)
