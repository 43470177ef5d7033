"""Score English-check candidates on the prompt corpus in tests/language_corpus.py.

    PYTHONPATH=src:. python bench/language_detectors.py

Prints one row per candidate: English prompts left alone, non-English prompts flagged, CPU µs
per prompt (process time over the whole corpus, several rounds, after one warm-up round).
lingua-language-detector is optional (not a dependency): its rows are skipped when it is absent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from tests.language_corpus import ENGLISH, HELDOUT_ENGLISH, HELDOUT_NON_ENGLISH, NON_ENGLISH

from imagine.language import (
    LATIN_LANGUAGES,
    LanguageChecker,
    english_share,
    script_language,
    words_to_judge,
)

Detector = Callable[[str], str | None]
ISSUE_LANGS = ("fr", "es", "de", "pt", "it", "zh", "ja", "ru", "ar")


def py3langid_full(threshold: float, min_words: int) -> Detector:
    ident = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)

    def detect(text: str) -> str | None:
        if len(text.split()) < min_words:
            return None
        lang, prob = ident.classify(text)
        return str(lang) if lang != "en" and prob >= threshold else None

    return detect


def py3langid_restricted(langs: tuple[str, ...], script: bool) -> Detector:
    ident = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
    ident.set_languages(["en", *langs])

    def detect(text: str) -> str | None:
        if script and (found := script_language(text)):
            return found
        lang, _ = ident.classify(text)
        return None if lang == "en" else str(lang)

    return detect


def lingua(langs: tuple[str, ...], distance: float, script: bool, vocabulary: bool) -> Detector:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    det = (
        LanguageDetectorBuilder.from_iso_codes_639_1(
            *(getattr(IsoCode639_1, c.upper()) for c in ("en", *langs))
        )
        .with_minimum_relative_distance(distance)
        .with_preloaded_language_models()
        .build()
    )

    def detect(text: str) -> str | None:
        if script and (found := script_language(text)):
            return found
        if vocabulary:  # the same one-word and vocabulary rules as the chosen checker
            words = words_to_judge(text)
            if len(words) < 2 or english_share(words) >= 0.5:
                return None
        lang = det.detect_language_of(text)
        if lang is None or lang == Language.ENGLISH:
            return None
        return str(lang.iso_code_639_1.name.lower())

    return detect


def score(detect: Detector, rounds: int = 5) -> tuple[float, float, float, float, float]:
    prompts = list(ENGLISH) + [p for _, p in NON_ENGLISH]
    for p in prompts:
        detect(p)
    start = time.process_time()
    for _ in range(rounds):
        for p in prompts:
            detect(p)
    us = (time.process_time() - start) / (rounds * len(prompts)) * 1e6
    en_ok = sum(detect(p) is None for p in ENGLISH) / len(ENGLISH)
    ne_ok = sum(detect(p) is not None for _, p in NON_ENGLISH) / len(NON_ENGLISH)
    ho_en = sum(detect(p) is None for p in HELDOUT_ENGLISH) / len(HELDOUT_ENGLISH)
    ho_ne = sum(detect(p) is not None for _, p in HELDOUT_NON_ENGLISH) / len(HELDOUT_NON_ENGLISH)
    return en_ok, ne_ok, us, ho_en, ho_ne


def candidates() -> list[tuple[str, Callable[[], Detector]]]:
    rows: list[tuple[str, Callable[[], Detector]]] = [
        ("py3langid all, p>=0.9, >=3 words (old)", lambda: py3langid_full(0.9, 3)),
        ("py3langid all langs, any non-en", lambda: py3langid_full(0.0, 1)),
        ("py3langid en+9 issue langs", lambda: py3langid_restricted(ISSUE_LANGS, False)),
        (
            "py3langid en+10 Latin langs + script",
            lambda: py3langid_restricted(LATIN_LANGUAGES, True),
        ),
        (
            "script + vocab + py3langid en+5 issue Lat",
            lambda: LanguageChecker(languages=ISSUE_LANGS[:5]).non_english_language,
        ),
        (
            "script + vocab + py3langid en+10 Lat (CHOSEN)",
            lambda: LanguageChecker().non_english_language,
        ),
        (
            "same, vote share 0.34",
            lambda: LanguageChecker(english_share_min=0.34).non_english_language,
        ),
        (
            "same, vote share 0.67",
            lambda: LanguageChecker(english_share_min=0.67).non_english_language,
        ),
        (
            "same without vocabulary",
            lambda: LanguageChecker(use_vocabulary=False).non_english_language,
        ),
    ]
    try:
        import lingua as _  # noqa: F401
    except ImportError:
        return rows
    rows += [
        ("lingua en+9, distance 0", lambda: lingua(ISSUE_LANGS, 0.0, False, False)),
        ("lingua en+9, distance 0.1", lambda: lingua(ISSUE_LANGS, 0.1, False, False)),
        ("lingua en+9, distance 0.25", lambda: lingua(ISSUE_LANGS, 0.25, False, False)),
        ("script + lingua en+9, distance 0", lambda: lingua(ISSUE_LANGS, 0.0, True, False)),
        ("script + vocab + lingua en+9, d 0", lambda: lingua(ISSUE_LANGS, 0.0, True, True)),
        (
            "script + vocab + lingua en+10 Latin, d 0",
            lambda: lingua(LATIN_LANGUAGES, 0.0, True, True),
        ),
    ]
    return rows


def main() -> None:
    print(
        f"{len(ENGLISH)} English, {len(NON_ENGLISH)} non-English prompts;"
        f" held out {len(HELDOUT_ENGLISH)} English, {len(HELDOUT_NON_ENGLISH)} non-English"
    )
    print(f"| {'detector':<45} | En ok  | non-En |  µs | ho En  | ho non |")
    print(f"|{'-' * 47}|-------:|-------:|----:|-------:|-------:|")
    for name, make in candidates():
        start = time.perf_counter()
        detect = make()
        load_ms = (time.perf_counter() - start) * 1e3
        en, ne, us, ho_en, ho_ne = score(detect)
        cells = f"{en:>6.1%} | {ne:>6.1%} | {us:>3.0f} | {ho_en:>6.1%} | {ho_ne:>6.1%}"
        print(f"| {name:<45} | {cells} |  (load {load_ms:.0f} ms)")


if __name__ == "__main__":
    main()
