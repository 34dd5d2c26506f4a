"""Answers and item scores, per format, computed by hand from the bank format's rules."""

from __future__ import annotations

import pytest

from lti_tool.assessments import InvalidAnswer, ItemFormat, parse_answer, score_item

# The synthetic bank's first items: S1.L1.1-a single_best (a 2, b 1, c 0), S1.L1.1-b
# choose_two (a 2, b 0, c 1, d 0), S1.L1.1-c rank (keyRank a 2, b 1, c 3), S1.L1.2-a
# rate_each (keyRating a 4, b 1, c 3).


@pytest.fixture
def items(synthetic_bank):
    return {
        ItemFormat.SINGLE_BEST: synthetic_bank.item("S1.L1.1-a"),
        ItemFormat.CHOOSE_TWO: synthetic_bank.item("S1.L1.1-b"),
        ItemFormat.RANK: synthetic_bank.item("S1.L1.1-c"),
        ItemFormat.RATE_EACH: synthetic_bank.item("S1.L1.2-a"),
    }


@pytest.mark.parametrize(
    ("fmt", "maximum"),
    [
        (ItemFormat.SINGLE_BEST, 2),  # the highest score
        (ItemFormat.CHOOSE_TWO, 3),  # 2 + 1
        (ItemFormat.RANK, 6),  # n (n - 1) with n = 3
        (ItemFormat.RATE_EACH, 9),  # 3 n
    ],
)
def test_item_maximum(items, fmt, maximum) -> None:
    assert items[fmt].maximum == maximum


@pytest.mark.parametrize(
    ("fmt", "raw", "score"),
    [
        (ItemFormat.SINGLE_BEST, "a", 2),
        (ItemFormat.SINGLE_BEST, "b", 1),  # partial credit
        (ItemFormat.SINGLE_BEST, ["c"], 0),  # a form's one-element list
        (ItemFormat.CHOOSE_TWO, ["c", "a"], 3),
        (ItemFormat.CHOOSE_TWO, ["a", "b"], 2),
        (ItemFormat.CHOOSE_TWO, ["b", "d"], 0),
        (ItemFormat.RANK, ["b", "a", "c"], 6),  # the key order
        (ItemFormat.RANK, ["a", "b", "c"], 4),  # a 1 vs 2: 1; b 2 vs 1: 1; c 3 vs 3: 2
        (ItemFormat.RANK, ["c", "a", "b"], 2),  # c 1 vs 3: 0; a 2 vs 2: 2; b 3 vs 1: 0
        (ItemFormat.RATE_EACH, {"a": 4, "b": 1, "c": 3}, 9),
        (ItemFormat.RATE_EACH, {"a": "1", "b": "4", "c": "3"}, 3),  # 0 + 0 + 3
        (ItemFormat.RATE_EACH, {"a": 3, "b": 2, "c": 2}, 6),  # 2 + 2 + 2
    ],
)
def test_score_by_format(items, fmt, raw, score) -> None:
    item = items[fmt]
    answer = parse_answer(item, raw)
    result = score_item(item, answer)
    assert (result.score, result.maximum, result.answered) == (score, item.maximum, True)
    assert [f.option_id for f in result.feedback] == list(item.option_ids)
    assert all(f.feedback for f in result.feedback)
    # The canonical form parses back to itself (stored answers reload unchanged).
    assert parse_answer(item, answer.to_raw()) == answer


def test_choose_two_is_order_free(items) -> None:
    item = items[ItemFormat.CHOOSE_TWO]
    assert parse_answer(item, ["c", "a"]) == parse_answer(item, ["a", "c"])


def test_feedback_says_what_was_chosen(items) -> None:
    item = items[ItemFormat.SINGLE_BEST]
    feedback = {f.option_id: f for f in score_item(item, parse_answer(item, "b")).feedback}
    assert (feedback["b"].chosen, feedback["b"].points) == (True, 1)
    assert (feedback["a"].chosen, feedback["a"].points) == (False, 0)
    rank = items[ItemFormat.RANK]
    ranked = score_item(rank, parse_answer(rank, ["c", "a", "b"])).feedback
    assert [f.learner_rank for f in ranked] == [2, 3, 1]  # options a, b, c


def test_unanswered_scores_zero_with_feedback(items) -> None:
    item = items[ItemFormat.RANK]
    result = score_item(item, None)
    assert (result.score, result.maximum, result.answered) == (0, 6, False)
    assert len(result.feedback) == 3


@pytest.mark.parametrize(
    ("fmt", "raw", "code"),
    [
        (ItemFormat.SINGLE_BEST, "z", "unknown_option"),
        (ItemFormat.SINGLE_BEST, ["a", "b"], "choose_one"),
        (ItemFormat.SINGLE_BEST, None, "choose_one"),
        (ItemFormat.CHOOSE_TWO, ["a"], "choose_two"),
        (ItemFormat.CHOOSE_TWO, ["a", "a"], "choose_two"),
        (ItemFormat.CHOOSE_TWO, ["a", "b", "c"], "choose_two"),
        (ItemFormat.CHOOSE_TWO, "a", "choose_two"),
        (ItemFormat.RANK, ["a", "b"], "rank_all"),
        (ItemFormat.RANK, ["a", "a", "b"], "rank_all"),
        (ItemFormat.RANK, ["a", "b", "z"], "unknown_option"),
        (ItemFormat.RATE_EACH, {"a": 4, "b": 1}, "rate_all"),
        (ItemFormat.RATE_EACH, {"a": 4, "b": 1, "c": 5}, "rating_out_of_range"),
        (ItemFormat.RATE_EACH, {"a": 4, "b": 1, "c": True}, "rating_out_of_range"),
        (ItemFormat.RATE_EACH, {"a": 4, "b": 1, "c": 3, "z": 2}, "unknown_option"),
        (ItemFormat.RATE_EACH, ["a", "b", "c"], "rate_all"),
    ],
)
def test_invalid_answers(items, fmt, raw, code) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        parse_answer(items[fmt], raw)
    assert caught.value.code == code
    assert caught.value.message


def test_answer_for_another_format_is_refused(items) -> None:
    answer = parse_answer(items[ItemFormat.SINGLE_BEST], "a")
    with pytest.raises(InvalidAnswer) as caught:
        score_item(items[ItemFormat.RANK], answer)
    assert caught.value.code == "wrong_format"
