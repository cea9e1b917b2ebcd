"""Row seeds: the hand-written key gives exactly what the json.dumps definition gives."""
import hashlib
import json
import random

import pytest

from pipelines.synthesize.work import row_seed


def reference_row_seed(run_seed, music_id, video_id, method, sample) -> int:
    """The definition the pinned outputs were made with."""
    key = json.dumps([run_seed, music_id, video_id, method, sample])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:7], "big")


@pytest.mark.parametrize("music_id", ["m0000001", "", "a \"quoted\" id", "back\\slash", "tab\there", "新しい曲",
                                      "emoji 🎵", "ctrl\x01\x1f", "lone \ud800 surrogate", "line\nbreak", "/"])
@pytest.mark.parametrize("video_id", [None, "v1", "vidé\u2028o"])
def test_row_seed_is_the_json_definition(music_id, video_id):
    for run_seed, method, sample in ((0, "tags", 0), (12345678901234567890, "data2text", 3), (-7, "prompt2text", 1)):
        assert row_seed(run_seed, music_id, video_id, method, sample) == \
            reference_row_seed(run_seed, music_id, video_id, method, sample)


def test_row_seed_random_strings():
    rng = random.Random(5)
    alphabet = "ab\"\\/\n\t\x00\x7f\u00e9\u2028\ud83c\udfb5 "
    for _ in range(2000):
        mid = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        vid = None if rng.random() < 0.3 else "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
        assert row_seed(3, mid, vid, "tags", 0) == reference_row_seed(3, mid, vid, "tags", 0)
