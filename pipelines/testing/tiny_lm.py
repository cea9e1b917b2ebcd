"""A tiny causal LM that writes caption-like text, built and trained here in under a minute on the CPU,
for tests against servers no one here wrote (`transformers serve`): nothing is fetched from a hub.

    path = build_caption_lm(tmp_dir, texts, seconds=30)   # a folder from_pretrained() loads

A byte-level BPE tokenizer (`tokenizers`) is trained on the texts, then a 2-layer GPT-2 (transformers,
from a config) on the same texts with AdamW for `seconds`. It learns the "Tags: ...\\nDescription: ..."
format and music words; sampled, it writes caption-like sentences, and greedy it loops (as a small LM does).
The chat template joins the turns, so chat requests work too.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['content'] }}{% if m['role'] == 'system' %}\n\n{% endif %}"
                 "{% endfor %}")
EOS = "<|endoftext|>"


def caption_texts(project_root: str | Path) -> list[str]:
    """Training documents from files committed to the project (no ../shared needed): the MusicCaps
    example pool of prompt2text and the captions of the evaluation fixture (both CC BY-SA 4.0)."""
    root = Path(project_root)
    docs = []
    with open(root / "prompts" / "examples" / "musiccaps.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs.append(f"Tags: {', '.join(row['tags'])}\nDescription: {row['description']}\n\n")
    fixture = root / "tests" / "evaluate" / "reference_scores" / "musiccaps_50.json"
    if fixture.is_file():
        for row in json.loads(fixture.read_text(encoding="utf-8"))["rows"]:
            docs.append(f"Description: {row['reference']}\n\n")
    return docs


def build_caption_lm(out_dir: str | Path, texts: list[str], seconds: float = 30.0, seed: int = 0) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=600, min_frequency=2, special_tokens=[EOS], show_progress=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=EOS, bos_token=EOS,
                                        unk_token=EOS, pad_token=EOS)
    tokenizer.chat_template = CHAT_TEMPLATE
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=1024, n_embd=96, n_layer=2, n_head=4,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = GPT2LMHeadModel(config)
    ids = tokenizer("".join(texts))["input_ids"]
    window, batch = 128, 16
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        starts = [rng.randrange(len(ids) - window) for _ in range(batch)]
        x = torch.tensor([ids[s:s + window] for s in starts])
        loss = model(x, labels=x).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.generation_config.pad_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
