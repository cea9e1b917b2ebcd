"""prompt2text: analogy prompts (A:A'::B:B') completed by a large language model."""
