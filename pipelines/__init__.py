"""viml-synth pipelines: tagging, text synthesis and feature extraction as Apache Beam jobs."""

__version__ = "0.1.0"
