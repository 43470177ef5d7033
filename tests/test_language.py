"""The English check on short edit instructions, measured on a corpus (tests/language_corpus.py).

Issue 15 item 4: short French, Spanish, German, Portuguese, Italian, Chinese, Japanese, Russian
and Arabic instructions must be flagged, short English ones (slang, terse, brand names) must not.
The corpus: 187 English and 118 non-English prompts (12-14 per language) the checker was
developed against, and a held-out set (50 English, 45 non-English, "ho" below) written after
the vocabulary and thresholds were fixed and never tuned against.

Score table, `PYTHONPATH=src:. python bench/language_detectors.py`.  En ok: English prompts
left alone; non-En: non-English prompts flagged; µs: CPU time per prompt (process time, shared
2-core machine: only the order of magnitude means anything).  lingua-language-detector 2.1.1
rows were measured with it installed; it is not a dependency.

| detector                                      | En ok  | non-En |  µs | ho En  | ho non |
|-----------------------------------------------|-------:|-------:|----:|-------:|-------:|
| py3langid all, p>=0.9, >=3 words (old)        | 100.0% |  14.4% |  20 | 100.0% |  15.6% |
| py3langid all langs, any non-en               |  56.7% | 100.0% |  32 |  88.0% | 100.0% |
| py3langid en+9 issue langs                    |  80.7% | 100.0% |  18 |  96.0% | 100.0% |
| py3langid en+10 Latin langs + script          |  74.9% | 100.0% |  25 |  96.0% | 100.0% |
| script + vocab + py3langid en+5 issue Lat     |  99.5% | 100.0% |  11 |  98.0% | 100.0% |
| script + vocab + py3langid en+10 Lat (CHOSEN) |  99.5% | 100.0% |  12 |  98.0% | 100.0% |
| same, vote share 0.34                         |  99.5% | 100.0% |  10 |  98.0% | 100.0% |
| same, vote share 0.67                         |  90.4% | 100.0% |  13 |  96.0% | 100.0% |
| same without vocabulary                       |  84.5% | 100.0% |  23 |  96.0% | 100.0% |
| lingua en+9, distance 0                       |  81.3% | 100.0% |  78 |  94.0% |  97.8% |
| lingua en+9, distance 0.1                     |  90.4% |  94.1% |  57 |  98.0% |  97.8% |
| lingua en+9, distance 0.25                    |  94.7% |  91.5% |  61 | 100.0% |  88.9% |
| script + lingua en+9, distance 0              |  81.3% | 100.0% |  59 |  94.0% |  97.8% |
| script + vocab + lingua en+9, d 0             |  99.5% | 100.0% |  26 |  96.0% |  97.8% |
| script + vocab + lingua en+10 Latin, d 0      |  99.5% | 100.0% |  43 |  96.0% |  97.8% |

Chosen: script detection, then the one-word and English-vocabulary rules, then py3langid
restricted to English and ten Latin-script languages (imagine.language).  No detector alone gets
short English right (the best, lingua with a 0.25 minimum relative distance, leaves 94.7 % of
English alone while missing 8.5 % of non-English).  The vocabulary vote is what fixes English;
with it py3langid scores as well as lingua (better on held-out English), is faster, loads in
~0.4 s instead of 1-3 s, and adds no dependency: lingua-language-detector 2.1.1 installs 96 MB,
py3langid (4.5 MB) is already one.  The English misses left are brand-only prompts ("Kodak
Portra", "Nintendo 64 graphics") that py3langid reads as Indonesian.  The ten-language set
scores the same as the issue's five here and also lets Dutch, Polish, Turkish, Swedish and
Indonesian prompts be flagged (not measured: the corpus has none).
"""

from __future__ import annotations

import time

import pytest

from imagine.language import LanguageChecker
from tests.language_corpus import ENGLISH, HELDOUT_ENGLISH, HELDOUT_NON_ENGLISH, NON_ENGLISH

ISSUE_LANGUAGES = {"fr", "es", "de", "pt", "it", "zh", "ja", "ru", "ar"}


def _english_ok(checker: LanguageChecker, prompts: tuple[str, ...]) -> float:
    return sum(checker.non_english_language(p) is None for p in prompts) / len(prompts)


def _flagged(checker: LanguageChecker, prompts: tuple[tuple[str, str], ...]) -> float:
    return sum(checker.non_english_language(p) is not None for _, p in prompts) / len(prompts)


def test_corpus_is_big_enough_and_covers_the_issue_languages() -> None:
    assert len(ENGLISH) >= 100
    assert len(NON_ENGLISH) >= 100
    assert {lang for lang, _ in NON_ENGLISH} == ISSUE_LANGUAGES
    assert not set(ENGLISH) & set(HELDOUT_ENGLISH)
    assert not {p for _, p in NON_ENGLISH} & {p for _, p in HELDOUT_NON_ENGLISH}


def test_english_prompts_are_left_alone(language_checker: LanguageChecker) -> None:
    missed = [(p, language_checker.non_english_language(p)) for p in ENGLISH]
    assert _english_ok(language_checker, ENGLISH) >= 0.98, [m for m in missed if m[1]]


def test_non_english_prompts_are_flagged(language_checker: LanguageChecker) -> None:
    missed = [
        (lang, p) for lang, p in NON_ENGLISH if language_checker.non_english_language(p) is None
    ]
    assert _flagged(language_checker, NON_ENGLISH) >= 0.95, missed


def test_held_out_prompts(language_checker: LanguageChecker) -> None:
    """Not tuned against: a looser bar, to catch a change that only fits the main corpus."""
    assert _english_ok(language_checker, HELDOUT_ENGLISH) >= 0.95
    assert _flagged(language_checker, HELDOUT_NON_ENGLISH) >= 0.95


def test_flagged_prompts_name_their_language(language_checker: LanguageChecker) -> None:
    """The warning says which language it saw; mostly right, always right for the scripts."""
    named = [(lang, language_checker.non_english_language(p)) for lang, p in NON_ENGLISH]
    assert sum(lang == got for lang, got in named) / len(named) >= 0.9
    assert all(lang == got for lang, got in named if lang in {"zh", "ja", "ru", "ar"})


@pytest.mark.parametrize(
    ("prompt", "lang"),
    [
        ("rends la photo en noir et blanc", "fr"),
        ("change la couleur de la voiture en noir mat", "fr"),
        ("haz que parezca una foto antigua", "es"),
        ("把背景换成海滩", "zh"),
        ("背景を海に変えて", "ja"),
        ("убери фон", "ru"),
        ("أزل الخلفية", "ar"),
    ],
)
def test_issue_examples_are_flagged(
    language_checker: LanguageChecker, prompt: str, lang: str
) -> None:
    assert language_checker.non_english_language(prompt) == lang


@pytest.mark.parametrize(
    "prompt", ["make it pop", "add rain", "b&w please", "a", "", "   ", "4k", "x y z", "!!!"]
)
def test_short_english_and_empty_prompts_are_not_flagged(
    language_checker: LanguageChecker, prompt: str
) -> None:
    assert language_checker.non_english_language(prompt) is None


def test_one_checker_is_fast(language_checker: LanguageChecker) -> None:
    prompts = list(ENGLISH) + [p for _, p in NON_ENGLISH]
    start = time.process_time()
    for p in prompts:
        language_checker.non_english_language(p)
    per_prompt = (time.process_time() - start) / len(prompts)
    assert per_prompt < 1e-3


@pytest.mark.parametrize(
    ("prompt", "lang"),
    [
        ("水彩画風に", "ja"),  # kanji-heavy Japanese is still Japanese
        ("사진을 흑백으로", "ko"),
        ("把背景换成Tesla", "zh"),
        ("add 海滩 to the background", None),  # one foreign word in an English sentence
        ("make it look like Москва", None),
    ],
)
def test_scripts(language_checker: LanguageChecker, prompt: str, lang: str | None) -> None:
    assert language_checker.non_english_language(prompt) == lang
