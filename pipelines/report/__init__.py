"""`viml-synth report`: one self-contained HTML page about a synthesize run (aggregate -> charts -> render)."""
