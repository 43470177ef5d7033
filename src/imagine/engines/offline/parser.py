"""Plain-English edit instruction → a list of Edit records plus the words not understood."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

from imagine.engines.offline import rules
from imagine.engines.offline.colours import COLOURS
from imagine.engines.offline.colours import join_compound_names as _join_colours
from imagine.engines.offline.rules import Edit, Family, SubjectOp, ToneOp

__all__ = ["Edit", "Family", "Parsed", "parse"]

MAX_CHARS = 4000  # the contract's prompt limit; longer text is cut, not refused

# Quotes people use around text to write; the apostrophe form must not eat "don't".
_QUOTE_RE = re.compile(
    r"\"([^\"]{1,200})\"|“([^”]{1,200})”|‘([^’]{1,200})’|«([^»]{1,200})»"
    r"|(?<![\w'])'([^']{1,200})'(?![\w])"
)
_SPLIT_RE = re.compile(
    r"[,;!?\n]+|(?<!\d)\.|\.(?!\d)"
    r"|\b(?:and then|after that|afterwards|then|and|also|plus|as well as)\b"
)
_WORD_RE = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Parsed:
    """The edits recognised, in instruction order, and the phrases that were not."""

    edits: tuple[Edit, ...]
    unrecognised: tuple[str, ...]


def _normalise(text: str) -> str:
    """Lower-case and rewrite common spellings so the rules see one form."""
    text = text.lower()
    text = re.sub(r"\bb ?& ?w\b|\bblack ?(?:and|&|n|-and-) ?white\b", " grayscale ", text)
    text = re.sub(r"'s\b", "", text).replace("'", "").replace("’", "")
    text = text.replace("°", " degrees ").replace("%", " percent ")
    # keep clause punctuation and decimal points; everything else separates words
    text = re.sub(r"[^a-z0-9,;.!?\n]+", " ", text)
    return text


def _extract_quotes(text: str) -> tuple[str, list[str]]:
    """Replace quoted spans by placeholder words qtext0, qtext1, … (case kept aside)."""
    quotes: list[str] = []

    def sub(match: re.Match[str]) -> str:
        quotes.append(next(g for g in match.groups() if g is not None))
        return f" qtext{len(quotes) - 1} "

    # a user's own "qtext7" must not pass for a placeholder
    text = re.sub("qtext", "q text", text, flags=re.IGNORECASE)
    return _QUOTE_RE.sub(sub, text), quotes


def _vocabulary() -> tuple[str, ...]:
    words: set[str] = set(COLOURS) | rules.FILLER | rules.KNOWN_WORDS
    for rule in rules.RULES:
        words.update(re.findall(r"[a-z]{4,}", rule.pattern.pattern))
    return tuple(sorted(words))


_VOCAB = _vocabulary()
_VOCAB_SET = frozenset(_VOCAB)


def _correct(word: str) -> str:
    """Nearest known word for a likely typo (4+ letters), else the word itself."""
    if len(word) < 4 or len(word) > 20 or word in _VOCAB_SET or not word.isalpha():
        return word
    close = difflib.get_close_matches(word, _VOCAB, n=1, cutoff=0.8)
    return close[0] if close else word


def _leftover_words(remaining: str) -> list[str]:
    return [w for w in _WORD_RE.findall(remaining) if w not in rules.FILLER]


def _parse_clause(clause: str, quotes: list[str], original: str) -> tuple[list[Edit], list[str]]:
    """Match every rule once against the clause; return edits and unconsumed content words."""
    remaining = " " + _join_colours(" ".join(clause.split())) + " "
    edits: list[Edit] = []
    for rule in rules.RULES:
        match = rule.pattern.search(remaining)
        if match is None:
            continue
        edit, spans = rules.build(rule, match, remaining, quotes, original)
        if edit is None:
            continue
        edits.append(edit)
        for start, end in spans:
            remaining = remaining[:start] + " " * (end - start) + remaining[end:]
        # synonyms of the same edit later in the clause ("snowy winter") are part of it
        for extra in rule.pattern.finditer(remaining):
            start, end = extra.span()
            remaining = remaining[:start] + " " * (end - start) + remaining[end:]
    return edits, _leftover_words(remaining)


def _merge_followups(edits: list[Edit]) -> list[Edit]:
    """Fold "remove the background and make it white" into one background-colour edit."""
    out: list[Edit] = []
    for edit in edits:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.op is SubjectOp.REMOVE_BACKGROUND
            and edit.op is ToneOp.TINT
            and edit.colour is not None
        ):
            out[-1] = replace(prev, op=SubjectOp.BACKGROUND_COLOUR, colour=edit.colour)
            continue
        out.append(edit)
    return out


def parse(instruction: str) -> Parsed:
    """Split the instruction into clauses and recognise the edits in each."""
    original = instruction[:MAX_CHARS]
    text, quotes = _extract_quotes(original)
    edits: list[Edit] = []
    unrecognised: list[str] = []
    for raw in _SPLIT_RE.split(_normalise(text)):
        clause = " ".join(raw.split())
        if not clause:
            continue
        found, left = _parse_clause(clause, quotes, original)
        if left:
            # second chance with typos corrected; keep it only if it explains more
            fixed = " ".join(_correct(w) if w in left else w for w in clause.split())
            if fixed != clause:
                found2, left2 = _parse_clause(fixed, quotes, original)
                if len(left2) < len(left) or len(found2) > len(found):
                    found, left = found2, left2
        # "vintage, like an old photo" names one edit twice: apply it once
        edits.extend(e for e in found if e not in edits)
        if left:
            phrase = clause if not found else " ".join(left)
            unrecognised.append(re.sub(r"qtext(\d+)", lambda m: quotes[int(m[1])], phrase))
    return Parsed(edits=tuple(_merge_followups(edits)), unrecognised=tuple(unrecognised))
