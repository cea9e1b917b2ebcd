"""Fixtures shared by the data2text tests: the packaged vocabulary and template bank (loaded once)."""
import pytest

from pipelines.synthesize.data2text.templates import TemplateBank
from pipelines.tag.vocabulary import Vocabulary


@pytest.fixture(scope="session")
def vocab():
    return Vocabulary.load()


@pytest.fixture(scope="session")
def bank():
    return TemplateBank.load()
