"""qa.settings: copies with changed fields are validated again, and None is a value like any other."""

from __future__ import annotations

import pytest

from qa.errors import InputError
from qa.settings import Settings


def test_with_changes_only_the_fields_given():
    base = Settings()
    changed = base.with_(min_dense_score=0.9, top_k=3)
    assert (changed.min_dense_score, changed.top_k) == (0.9, 3)
    assert changed.min_dense_score_en == base.min_dense_score_en and base.top_k != 3


def test_with_none_turns_an_optional_setting_off():
    assert Settings().known_word_zipf is not None
    assert Settings().with_(known_word_zipf=None).known_word_zipf is None


def test_with_validates_the_copy():
    with pytest.raises(InputError):
        Settings().with_(hub_neighbours=0)


@pytest.mark.parametrize("changes", [{"name_max_share": 0.0}, {"name_max_share": 1.5}, {"answer_type_boost": -0.1},
                                     {"rrf_answer_type_boost": -1.0}])
def test_answer_type_settings_are_validated(changes):
    with pytest.raises(InputError):
        Settings(**changes)
