"""The nationality/region code list (国籍・地域, Q8), shipped as data: grouped by region, and
within a region ordered by Japanese reading the way a dictionary orders it (gojūon, voiced
marks and small kana ignored first, the long-vowel mark read as the vowel before it).

The list is complete (data/nationalities.csv names its source in its header): every state
Japan recognises but Japan, the regions the agency's forms list besides (台湾, 香港, マカオ,
パレスチナ, 北朝鮮), and 無国籍 — a real filer must never be refused for a real person."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Nationality:
    code: str  # ISO 3166-1 alpha-3 (XKX: Kosovo, XXA: stateless, as ICAO 9303 writes them)
    name: str
    reading: str  # hiragana
    region: str
    region_name: str


_SMALL = str.maketrans("ぁぃぅぇぉっゃゅょゎ", "あいうえおつやゆよわ")
_VOWEL_ROWS = {
    "あ": "あかさたなはまやらわがざだばぱ",
    "い": "いきしちにひみりぎじぢびぴ",
    "う": "うくすつぬふむゆるぐずづぶぷ",
    "え": "えけせてねへめれげぜでべぺ",
    "お": "おこそとのほもよろをごぞどぼぽ",
}
_VOWEL_OF = {kana: vowel for vowel, row in _VOWEL_ROWS.items() for kana in row}


def reading_key(reading: str) -> tuple[str, str, str]:
    """Dictionary order of a hiragana reading: first without voiced marks or small kana,
    then with small kana told apart, then by the exact reading."""
    expanded: list[str] = []
    for ch in reading:
        if ch == "ー" and expanded:
            base = unicodedata.normalize("NFD", expanded[-1])[0].translate(_SMALL)
            expanded.append(_VOWEL_OF.get(base, base))
        else:
            expanded.append(ch)
    text = "".join(expanded)
    plain = "".join(c for c in unicodedata.normalize("NFD", text) if c not in "\u3099\u309a")
    return (plain.translate(_SMALL), plain, text)


@cache
def nationalities() -> tuple[Nationality, ...]:
    """The list in display order: regions as shipped, readings in dictionary order within each."""
    text = resources.files("services.filing").joinpath("data/nationalities.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))  # the header names the source
    return tuple(
        Nationality(code=r["code"], name=r["name"], reading=r["reading"], region=r["region"], region_name=r["region_name"])
        for r in rows
    )


@cache
def by_code() -> dict[str, Nationality]:
    return {n.code: n for n in nationalities()}


@cache
def by_name() -> dict[str, Nationality]:
    """Spreadsheet users often type the Japanese name instead of the code; both are accepted."""
    return {n.name: n for n in nationalities()}


def resolve(value: str) -> Nationality | None:
    value = value.strip()
    return by_code().get(value.upper()) or by_name().get(value)
