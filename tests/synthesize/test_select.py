"""Tag selection: a user's unscored list takes a short path that must agree with the full rules."""
import random

from pipelines.synthesize.select import TagSelection, _select_by_rules, select_tags
from pipelines.synthesize.tagset import InputTag


def test_unscored_lists_short_path_agrees_with_the_rules():
    rng = random.Random(3)
    names = ["rock", "Rock", "piano", "sad", "low quality", "drums", "medium tempo", "A minor", "jazz", "violin"]
    for _ in range(2000):
        categories = [None, "genre", "mood", "tempo", "key"]
        tags = [InputTag(n, rng.choice(categories)) for n in rng.choices(names, k=rng.randint(1, 14))]
        selection = TagSelection(max_tags=rng.randint(1, 15), min_tags=rng.randint(0, 5),
                                 top_k={"genre": rng.randint(0, 3), "mood": 1}, other_k=rng.randint(0, 3))
        seen, unique = set(), []
        for t in tags:
            if t.tag.lower() not in seen:
                seen.add(t.tag.lower())
                unique.append(t)
        expected = (unique[:selection.max_tags], False)
        assert select_tags(tags, selection) == _select_by_rules(unique, selection) == expected


def test_a_scored_tag_takes_the_full_rules():
    tags = [InputTag("rock"), InputTag("sad", "mood", 0.05), InputTag("jazz", "genre", 0.9)]
    assert select_tags(tags, TagSelection(min_tags=0)) == ([tags[0], tags[2]], False)  # sad is below 0.1
