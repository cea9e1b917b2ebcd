"""How much the report samples (defaults of `viml-synth report`'s options); kept import-free so the CLI
can build its parser without loading pyarrow or Beam."""

TEXT_SAMPLE = 20_000  # texts per method behind vocabulary size and distinct-n
EXAMPLES = 12  # example tracks shown
EVAL_ROWS = 2_000  # texts per method scored against references (METEOR is slow)
