"""The nationality/region list: grouped by region, ordered by Japanese reading within each."""

from __future__ import annotations

from itertools import groupby

from services.filing.domain.nationalities import nationalities, reading_key, resolve


def test_each_region_is_one_contiguous_group():
    regions = [region for region, _ in groupby(n.region for n in nationalities())]
    assert len(regions) == len(set(regions))
    assert len(regions) >= 7


def test_within_each_region_the_list_is_in_dictionary_order_of_the_reading():
    for region, group in groupby(nationalities(), key=lambda n: n.region):
        readings = [n.reading for n in group]
        assert readings == sorted(readings, key=reading_key), region


def test_codes_are_unique_iso_alpha3_and_names_unique():
    items = nationalities()
    assert len({n.code for n in items}) == len(items)
    assert len({n.name for n in items}) == len(items)
    assert all(len(n.code) == 3 and n.code.isupper() for n in items)


def test_dictionary_order_reads_the_long_vowel_mark_as_its_vowel_and_ignores_voicing_first():
    # ブータン = ぶうたん sorts before ぶるねい; plain codepoint order would put ー after every kana.
    assert reading_key("ぶーたん") < reading_key("ぶるねい")
    # Voiced and unvoiced kana sort together (か/が), then unvoiced first.
    assert reading_key("がーな") < reading_key("かんこく") < reading_key("かんぼじあ")
    assert reading_key("かな") < reading_key("がな") < reading_key("かに")


def test_asia_starts_in_gojuon_order():
    asia = [n.name for n in nationalities() if n.region == "asia"]
    assert asia.index("インド") < asia.index("ベトナム") < asia.index("モンゴル")
    assert asia.index("ブータン") < asia.index("ブルネイ")


def test_a_code_or_a_japanese_name_resolves_to_the_same_entry():
    assert resolve("VNM") is resolve("ベトナム") is resolve("vnm")
    assert resolve("ATLANTIS") is None
