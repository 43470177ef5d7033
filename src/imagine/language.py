"""Offline English check for prompts (py3langid, probabilities normalised)."""

from __future__ import annotations

import re

from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


class LanguageChecker:
    """Says whether a prompt is confidently not English."""

    def __init__(self, *, threshold: float = 0.9, min_words: int = 3) -> None:
        self._identifier = LanguageIdentifier.from_modelpath(
            MODEL_DIR / MODEL_FILE, norm_probs=True
        )
        self._threshold = threshold
        self._min_words = min_words

    def non_english_language(self, text: str) -> str | None:
        """The detected language code when the text is confidently not English, else None."""
        if len(_WORD.findall(text)) < self._min_words:
            return None  # too short to be confident about
        lang, prob = self._identifier.classify(text)
        if lang != "en" and float(prob) >= self._threshold:
            return str(lang)
        return None
