"""The offline answerer picks cited sentences, or says it does not know."""

from __future__ import annotations

from qna_agent.agent.models.extractive import DONT_KNOW, compose_answer, stem

PASSAGES: list[dict[str, object]] = [
    {
        "ref": 1,
        "heading": "Refund Policy > Starting a return",
        "text": "Pack the items and hand them to the carrier within 14 days of creating "
        "the return.",
    },
    {
        "ref": 2,
        "heading": "Refund Policy > The standard return window",
        "text": "You can return most items within **30 days from delivery**. No reason needed.",
    },
]


def test_stems_match_word_forms() -> None:
    assert stem("returns") == stem("returned") == stem("return")
    assert stem("shipping") == stem("ship")


def test_best_sentence_is_quoted_with_its_citation() -> None:
    answer = compose_answer("How long do I have to return an item?", PASSAGES, 0.34)
    assert "30 days from delivery [2]." in answer
    assert "**" not in answer


def test_unrelated_question_gets_dont_know() -> None:
    assert compose_answer("Who painted the Mona Lisa?", PASSAGES, 0.34) == DONT_KNOW
    assert compose_answer("anything", [], 0.34) == DONT_KNOW
    assert compose_answer("?", PASSAGES, 0.34) == DONT_KNOW
