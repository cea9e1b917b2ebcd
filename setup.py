"""viml-synth: text data for language-guided music recommendation for video (ViML).

Installable so Beam can ship it to remote workers with ``--setup_file ./setup.py``.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "-"))]


setup(
    name="viml-synth",
    version="0.1.0",
    description="Tag music, synthesize music descriptions and train ViML (CVPR 2023) with Apache Beam",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # templates/ and prompts/ ship inside the package as pipelines.templates, so remote workers get it too
    packages=find_packages(include=["pipelines", "pipelines.*", "viml_model", "viml_model.*"])
    + ["pipelines.templates", "pipelines.prompts"],
    package_dir={"pipelines.templates": "templates", "pipelines.prompts": "prompts"},
    package_data={"pipelines": ["data/*.yaml", "data/**/*.yaml"], "viml_model": ["configs/*.yaml"],
                  "pipelines.templates": ["data2text/*.j2", "prompt2text/*.j2", "prompt2text/*.txt"],
                  "pipelines.prompts": ["examples/*.jsonl", "README.md"]},
    include_package_data=True,
    install_requires=_requirements(),
    entry_points={"console_scripts": ["viml-synth = pipelines.cli:main"]},
)
