"""Text synthesis: turn a track's tags into natural-language music descriptions (tags, data2text, prompt2text)."""
