"""qa.settings: copies with changed fields are validated again, and None is a value like any other."""

from __future__ import annotations

import pytest

from qa.errors import InputError
from qa.settings import Settings


def test_with_changes_only_the_fields_given():
    base = Settings()
    changed = base.with_(min_confidence=0.3, top_k=3)
    assert (changed.min_confidence, changed.top_k) == (0.3, 3)
    assert changed.mode == base.mode and base.top_k != 3


def test_with_none_turns_an_optional_setting_off():
    assert Settings(min_confidence=0.4).with_(min_confidence=None).min_confidence is None


def test_with_validates_the_copy():
    with pytest.raises(InputError):
        Settings().with_(top_k=0)


@pytest.mark.parametrize("changes", [{"mode": "fuzzy"}, {"top_k": 101}, {"answer_sentences": 0},
                                     {"min_confidence": 1.5}, {"min_confidence": -0.1}, {"passage_max_chars": 10},
                                     {"index_type": "tree"}, {"torch_threads": 0}])
def test_invalid_settings_are_refused(changes):
    with pytest.raises(InputError):
        Settings(**changes)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical", "rrf"])
def test_every_ranking_mode_is_accepted(mode):
    assert Settings(mode=mode).mode == mode
