"""A pool of thousands of distinct customer questions for the load generator.

Made from the retrieval evaluation set and from the example documents' headings and sentences,
with templates, so every question is different and a run of many thousands of turns does not
measure the search cache (1,024 entries by default). Deterministic: the same pool every run.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "knowledge"
DATASET = ROOT / "examples" / "eval" / "retrieval.jsonl"

HEADING_TEMPLATES = (
    "What is your policy on {t}?",
    "Can you tell me about {t}?",
    "I have a question about {t}.",
    "Where can I read about {t}?",
    "How does {t} work?",
    "Explain {t} to me, please.",
    "What should I know about {t}?",
    "Is there anything special about {t}?",
    "Quick question regarding {t}",
    "help with {t}",
    "What are the rules for {t}?",
    "Does the shop say anything about {t}?",
)
SENTENCE_TEMPLATES = (
    "Is it true that {s}?",
    "Can you confirm: {s}?",
    "I read that {s}. What does that mean for me?",
    "Someone told me {s}, is that right?",
)
PREFIXES = ("", "Hi, ", "Hello! ", "Quick one: ", "Sorry to bother you, ")

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_MARKUP = re.compile(r"[*_`>#|\[\]()]")


def _headings_and_sentences() -> tuple[list[str], list[str]]:
    headings: list[str] = []
    sentences: list[str] = []
    for path in sorted(EXAMPLES.glob("*.md")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if line.startswith("#"):
                title = re.sub(r"^[#\s\d.]+", "", line).strip()
                if title:
                    headings.append(title.lower())
            elif len(line) > 40:
                for sentence in _SENTENCE.split(_MARKUP.sub("", line)):
                    words = sentence.strip().rstrip(".!?:").split()
                    if 6 <= len(words) <= 30:
                        text = " ".join(words)
                        sentences.append(text[0].lower() + text[1:])
    return headings, sentences


def question_pool(minimum: int = 5000, seed: int = 7) -> list[str]:
    """At least `minimum` distinct questions, shuffled with a fixed seed."""
    pool: dict[str, None] = {}
    for line in DATASET.read_text(encoding="utf-8").splitlines():
        if line.strip():
            pool[json.loads(line)["question"]] = None
    headings, sentences = _headings_and_sentences()
    for prefix in PREFIXES:
        for heading in headings:
            for template in HEADING_TEMPLATES:
                pool[prefix + template.format(t=heading)] = None
        for sentence in sentences:
            for template in SENTENCE_TEMPLATES:
                pool[prefix + template.format(s=sentence)] = None
        if len(pool) >= minimum:
            break
    questions = list(pool)
    if len(questions) < minimum:
        raise RuntimeError(f"only {len(questions)} distinct questions could be made")
    random.Random(seed).shuffle(questions)
    return questions


if __name__ == "__main__":
    made = question_pool()
    print(len(made), "distinct questions, for example:")
    for question in made[:5]:
        print(" ", question)
