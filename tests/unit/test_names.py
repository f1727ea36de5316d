"""Account-name checks shared by both programs."""

from __future__ import annotations

import pytest

from payoutengine.names import name_problem


@pytest.mark.parametrize("name", ["a", "eosio.token", "pe.admin", "zzzzzzzzzzzz", "abc12345"])
def test_valid_account_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param("", "it is empty", id="empty"),
        pytest.param("carolinesmith", "it has 13 characters, at most 12 are allowed", id="13"),
        pytest.param("Bad.Name", "only a-z, 1-5 and '.' are allowed", id="upper"),
        pytest.param("abc6", "only a-z, 1-5 and '.' are allowed", id="digit6"),
        pytest.param("abc.", "it ends with '.'", id="dot"),
        pytest.param(12, "it is not text but int", id="int"),
    ],
)
def test_invalid_account_names(value: object, problem: str) -> None:
    assert name_problem(value) == problem
