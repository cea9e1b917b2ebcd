"""The transformers backend on a tiny GPT-2 built from a config, with a BPE tokenizer trained here."""
import pickle

import pytest

from pipelines.synthesize.llm import GenerationParams, LLMError, LLMRequest, LLMResult, make_backend

CORPUS = ["a calm piano piece with soft strings", "an energetic rock song with loud drums and guitar",
          "Tags: jazz, saxophone\nDescription: a smoky late night jazz tune",
          "Tags: ambient, synth\nDescription: slowly evolving synth pads"] * 20
CHAT_TEMPLATE = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}<assistant>"


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    # Tiny tensors on 2 threads: thread hand-offs cost 30x the arithmetic here (0.45 s vs 0.01 s a call).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<unk>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", unk_token="<unk>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    path = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    chat_path = tmp_path_factory.mktemp("tiny-gpt2-chat")
    GPT2LMHeadModel(config).save_pretrained(chat_path)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(chat_path)
    yield str(path), str(chat_path)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def backend(tiny_lm):
    backend = make_backend("transformers", model=tiny_lm[0], max_concurrency=4, device="cpu")
    yield backend
    backend.close()


def test_picklable_before_loading(tiny_lm):
    backend = make_backend("transformers", model=tiny_lm[0], seed=1)
    assert backend._state is None
    copy = pickle.loads(pickle.dumps(backend))
    assert copy.describe()["backend"] == "transformers" and copy.describe()["model"] == tiny_lm[0]


def test_returns_only_the_completion_in_order(backend):
    prompts = ["Tags: jazz\nDescription:", "a calm", "an energetic rock song with loud drums and", "x"]
    params = GenerationParams(max_new_tokens=6, temperature=0)
    results = backend.generate_many([LLMRequest(prompt=p, params=params, key=str(i)) for i, p in enumerate(prompts)])
    assert all(isinstance(r, LLMResult) for r in results)
    assert [r.key for r in results] == ["0", "1", "2", "3"]
    assert all(r.finish_reason in ("length", "stop") and r.attempts == 1 for r in results)
    # the same greedy generation by hand: the backend returns exactly the new tokens, decoded
    state = backend.load()
    encoded = state["tokenizer"](prompts[0], return_tensors="pt")
    output = state["model"].generate(**encoded, max_new_tokens=6, do_sample=False,
                                     pad_token_id=state["tokenizer"].pad_token_id)
    new_tokens = output[0, encoded["input_ids"].shape[1]:]
    assert len(new_tokens) <= 6
    assert results[0].text == state["tokenizer"].decode(new_tokens, skip_special_tokens=True)


def test_left_padding_keeps_greedy_outputs_batch_independent(backend):
    params = GenerationParams(max_new_tokens=5, temperature=0)
    short, long = LLMRequest(prompt="a", params=params), LLMRequest(prompt="Tags: ambient, synth\nDescription:",
                                                                     params=params)
    [alone] = backend.generate_many([short])
    together = backend.generate_many([short, long])
    assert together[0].text == alone.text


def test_seeded_sampling_is_reproducible(tiny_lm):
    params = GenerationParams(max_new_tokens=8, temperature=1.0, top_p=1.0)
    requests = [LLMRequest(prompt="Tags: rock\nDescription:", params=params, key=k) for k in ("a", "b")]
    texts = []
    for seed in (1, 1, 2):
        backend = make_backend("transformers", model=tiny_lm[0], seed=seed)
        texts.append([r.text for r in backend.generate_many(requests)])
    assert texts[0] == texts[1] and texts[0] != texts[2]


def test_stop_sequences_cut_after_decoding(backend):
    greedy = GenerationParams(max_new_tokens=8, temperature=0)
    [full] = backend.generate_many([LLMRequest(prompt="Tags: jazz", params=greedy)])
    stop = full.text[len(full.text) // 2:][:2]
    assert stop.strip() or stop  # some text to stop at
    [cut] = backend.generate_many([LLMRequest(prompt="Tags: jazz", params=GenerationParams(
        max_new_tokens=8, temperature=0, stop=(stop,)))])
    assert cut.text == full.text[:full.text.index(stop)] and cut.finish_reason == "stop"


def test_empty_completion_is_retried_then_reported(tiny_lm):
    backend = make_backend("transformers", model=tiny_lm[0], max_attempts=3)
    greedy = GenerationParams(max_new_tokens=4, temperature=0)
    [full] = backend.generate_many([LLMRequest(prompt="a calm", params=greedy)])
    stop = full.text[0]  # greedy: the very first character is always cut away
    [error] = backend.generate_many([LLMRequest(prompt="a calm", key="k",
                                                params=GenerationParams(max_new_tokens=4, temperature=0,
                                                                        stop=(stop,)))])
    assert isinstance(error, LLMError) and (error.reason, error.attempts, error.key) == ("empty_text", 3, "k")


def test_chat_uses_the_tokenizer_template(tiny_lm):
    backend = make_backend("transformers", model=tiny_lm[1], max_concurrency=2)
    request = LLMRequest(messages=({"role": "user", "content": "describe jazz"},),
                         params=GenerationParams(max_new_tokens=3, temperature=0))
    assert backend.render(request) == "<user>describe jazz\n<assistant>"
    [result] = backend.generate_many([request])
    assert isinstance(result, LLMResult)
    plain = make_backend("transformers", model=tiny_lm[0])
    assert plain.render(request) == "user: describe jazz\nassistant:"  # no template: a plain transcript
    assert make_backend("transformers", model=tiny_lm[1], api="chat").render(LLMRequest(prompt="hi")) == (
        "<user>hi\n<assistant>")


def test_bad_prompt_fails_alone(backend):
    params = GenerationParams(max_new_tokens=4, temperature=0)
    too_long = " ".join(["piano"] * 400)  # longer than the model's 128 positions
    results = backend.generate_many([LLMRequest(prompt="a calm", params=params),
                                     LLMRequest(prompt=too_long, params=params)])
    assert isinstance(results[0], LLMResult)
    assert isinstance(results[1], LLMError) and results[1].reason == "generation_error"


def test_needs_a_model():
    with pytest.raises(ValueError):
        make_backend("transformers")


def test_sampled_text_does_not_depend_on_the_batch(tiny_lm):
    params = GenerationParams(max_new_tokens=8, temperature=1.0, top_p=0.9)
    mine = LLMRequest(prompt="Tags: rock\nDescription:", params=params, key="mine")
    others = [LLMRequest(prompt=p, params=params, key=f"o{i}") for i, p in enumerate(["a calm", "x", "Tags: jazz"])]
    alone = make_backend("transformers", model=tiny_lm[0], seed=3, max_concurrency=1).generate_many([mine])[0]
    batched = make_backend("transformers", model=tiny_lm[0], seed=3, max_concurrency=4).generate_many(
        [others[0], mine, *others[1:]])
    reordered = make_backend("transformers", model=tiny_lm[0], seed=3, max_concurrency=2).generate_many(
        [*others, mine])
    assert batched[1].text == reordered[3].text == alone.text
    assert len({r.text for r in batched}) > 1  # rows do not share one stream of noise


def test_top_p_filter_keeps_the_smallest_set_reaching_top_p():
    import torch

    from pipelines.synthesize.llm.row_sampling import top_p_filter

    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]]))
    kept = lambda p: torch.isfinite(top_p_filter(logits, p))[0].tolist()  # noqa: E731
    assert kept(0.5) == [False, True, False]
    assert kept(0.7) == [False, True, True]
    assert kept(0.81) == [True, True, True] == kept(1.0)


def test_row_seeded_sampler_draws_from_the_tempered_distribution():
    import torch

    from pipelines.synthesize.llm.row_sampling import RowSeededSampler

    n, logits = 4000, torch.tensor([2.0, 1.0, 0.0, -1.0])
    sampler = RowSeededSampler(range(n), temperature=2.0, top_p=1.0)
    picks = sampler(None, logits.repeat(n, 1)).argmax(dim=-1)
    observed = torch.bincount(picks, minlength=4).float() / n
    assert torch.allclose(observed, (logits / 2.0).softmax(-1), atol=0.03), observed
    again = RowSeededSampler(range(n), temperature=2.0, top_p=1.0)(None, logits.repeat(n, 1)).argmax(dim=-1)
    assert torch.equal(picks, again)  # the same seeds, the same draws
