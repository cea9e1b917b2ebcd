"""WordNet 3.0 for the METEOR tests: NLTK's reader over what `make install` fetched (`viml-synth wordnet`);
the tests that need it skip when it is not there. Loaded once: NLTK reads the whole index (seconds)."""
import pytest

from pipelines.evaluate import wordnet as wordnet_module


@pytest.fixture(scope="session")
def wordnet():
    reader = wordnet_module.find()
    if reader is None:
        pytest.skip(f"WordNet 3.0 not fetched into {wordnet_module.default_dir()} (run `viml-synth wordnet`)")
    return reader
