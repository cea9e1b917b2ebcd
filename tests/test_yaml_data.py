"""pipelines/yaml_data.py: data files parsed by libyaml when PyYAML has it, to the same values."""
from importlib import resources

import pytest
import yaml

from pipelines import yaml_data

DATA_FILES = ("vocabulary.yaml", "tag_lexicon.yaml", "tag_aliases.yaml", "descriptor_tags.yaml")


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="this PyYAML was built without libyaml")
def test_libyaml_parses_when_present():
    assert yaml_data.SAFE_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("name", DATA_FILES)
def test_packaged_files_load_as_the_pure_python_parser_loads_them(name):
    text = resources.files("pipelines.data").joinpath(name).read_text(encoding="utf-8")
    assert yaml_data.load(text) == yaml.safe_load(text)
    data, node = yaml_data.load_with_node(text)
    assert data == yaml.safe_load(text)
    assert node.start_mark.line == yaml.compose(text).start_mark.line
    assert [(k.value, k.start_mark.line) for k, _ in node.value] == \
        [(k.value, k.start_mark.line) for k, _ in yaml.compose(text).value]


@pytest.mark.parametrize("text, expected", [("", None), ("# only a comment\n", None), ("a: 1\n", {"a": 1}),
                                            ("- yes\n- 0x1f\n- 2001-02-03\n", None)])
def test_edge_documents(text, expected):
    data, node = yaml_data.load_with_node(text)
    assert data == yaml.safe_load(text) == yaml_data.load(text)
    if expected is not None:
        assert data == expected
    assert (node is None) == (yaml.compose(text) is None)


def test_errors_are_yaml_errors_with_a_line():
    with pytest.raises(yaml.YAMLError) as err:
        yaml_data.load("a: [1, 2\nb: 3\n")
    assert getattr(err.value, "problem_mark", None) is not None
    with pytest.raises(yaml.YAMLError):
        yaml_data.load_with_node("a: [1, 2\nb: 3\n")
