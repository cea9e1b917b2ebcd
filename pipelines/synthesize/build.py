"""Command-line options -> a SynthesizeJob (validated before anything runs)."""
from __future__ import annotations

from pipelines.resources import cache_dir
from pipelines.synthesize.methods import METHODS, Prompt2TextOptions, make_method
from pipelines.synthesize.pipeline import SynthesizeJob
from pipelines.synthesize.select import TagSelection


def default_llm_cache() -> str:
    return str(cache_dir() / "llm")


def prompt2text_options(args) -> Prompt2TextOptions:
    return Prompt2TextOptions(
        backend=args.llm_backend, base_url=args.llm_base_url, model=args.llm_model, api=args.llm_api,
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
        stop=tuple(args.stop) if args.stop else None, max_concurrency=args.max_concurrency,
        requests_per_minute=args.requests_per_minute, max_attempts=args.max_attempts, timeout_s=args.timeout_s,
        backoff_base_s=args.backoff_s,
        examples=args.examples, k=args.k, example_selection=args.example_selection,
        prompt_template=args.prompt_template, system_prompt=args.system_prompt, candidates=args.candidates,
        cache_dir=None if args.no_cache else (args.cache_dir or default_llm_cache()),
        batch_size=max(64, 4 * args.max_concurrency), max_tokens_field=args.llm_max_tokens_field,
        api_key_env=getattr(args, "llm_api_key_env", None), http_transport=getattr(args, "http_transport", "httpx"))


def _check_prompt2text(options: Prompt2TextOptions) -> None:
    """Fail before the pipeline starts on what would fail every row on a worker."""
    from pipelines.synthesize.prompt2text.examples import load_pool
    from pipelines.synthesize.prompt2text.prompt import load_prompt_template

    if options.backend in ("openai", "tgi") and not options.base_url:
        raise ValueError(f"prompt2text with --llm-backend {options.backend} needs --llm-base-url")
    if options.backend in ("openai", "tgi", "hf-inference"):  # a key named for the wrong host fails now
        from pipelines.synthesize.llm.credentials import HF_ROUTER_HOST, host_of, key_env_for
        from pipelines.synthesize.llm.transport import TRANSPORTS

        key_env_for(host_of(options.base_url) or HF_ROUTER_HOST, options.backend, options.api_key_env)
        if options.http_transport not in TRANSPORTS:  # a config file's value is not checked by argparse
            raise ValueError(f"http_transport: {options.http_transport!r} is not one of {', '.join(TRANSPORTS)}")
    if options.backend == "transformers" and not options.model:
        raise ValueError("prompt2text with --llm-backend transformers needs --llm-model (hub id or local path)")
    if options.k < 0 or options.candidates < 1:
        raise ValueError("--k must be >= 0 and --candidates >= 1")
    pool = load_pool(options.examples)
    template = load_prompt_template(options.prompt_template, options.system_prompt)
    # a sandbox violation or an undefined name only shows when rendering: try it once here with real
    # examples, or every row would fail on a worker with the same message
    examples = list(pool.examples[:options.k])
    template.render(examples, ["rock", "electric guitar", "energetic"])


def method_names(args) -> list[str]:
    names = [m.strip() for m in str(args.methods).split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if not names or unknown:
        raise ValueError(f"--methods: unknown {unknown or names}; choose from {', '.join(METHODS)}")
    repeated = sorted({m for m in names if names.count(m) > 1})
    if repeated:  # two copies of a method would write the same (music_id, method, sample) rows twice
        raise ValueError(f"--methods: {', '.join(repeated)} given more than once (use --samples-per-track "
                         "for more texts per track)")
    return names


# Out-of-range values are refused here, by name, rather than by a worker halfway through a run (or, worse,
# silently: a threshold of 1.5 would put every row on the min-tags fallback). (option, low, high); a
# bound in a 1-tuple is exclusive.
RANGES = [("samples_per_track", 1, None), ("threshold", 0.0, 1.0), ("max_tags", 1, None), ("min_tags", 0, None)]
LLM_RANGES = [("max_concurrency", 1, None), ("max_attempts", 1, None), ("timeout_s", (0.0,), None),
              ("backoff_s", 0.0, None), ("requests_per_minute", (0.0,), None), ("max_new_tokens", 1, None),
              ("temperature", 0.0, None), ("top_p", (0.0,), 1.0), ("candidates", 1, None), ("k", 0, None)]


def _check_ranges(args, ranges) -> None:
    for name, low, high in ranges:
        value = getattr(args, name, None)
        if value is None:
            continue
        exclusive = isinstance(low, tuple)
        low = low[0] if exclusive else low
        if (value <= low if exclusive else value < low) or (high is not None and value > high):
            bounds = ("(" if exclusive else "[") + f"{low}, " + (f"{high}]" if high is not None else "inf)")
            raise ValueError(f"--{name.replace('_', '-')} must be within {bounds}, got {value}")


def check_options(args) -> tuple[list[str], Prompt2TextOptions | None, TagSelection]:
    """Every check that needs no input file, so `run` can make them before its first stage starts."""
    names = method_names(args)
    _check_ranges(args, RANGES)
    if args.min_tags > args.max_tags:
        raise ValueError(f"--min-tags ({args.min_tags}) must not exceed --max-tags ({args.max_tags})")
    if "prompt2text" in names:
        _check_ranges(args, LLM_RANGES)
    p2t = prompt2text_options(args) if "prompt2text" in names else None
    if p2t:
        _check_prompt2text(p2t)
    if "data2text" in names and args.templates:
        from pipelines.synthesize.data2text.templates import TemplateBank, TemplateError

        try:  # broken user templates are reported now, with file and line, not on a worker
            TemplateBank.load(args.templates, extend_default=True)
        except TemplateError as exc:
            raise ValueError(str(exc)) from exc
    selection = TagSelection(threshold=args.threshold, top_k=TagSelection.parse_top_k(args.top_k),
                             max_tags=args.max_tags, min_tags=args.min_tags,
                             category_threshold=TagSelection.parse_category_threshold(
                                 getattr(args, "category_threshold", None)))
    return names, p2t, selection


def job_from_args(args, beam_args: list[str]) -> SynthesizeJob:
    if not args.input or not args.out:
        raise ValueError("synthesize: --input and --out are required")
    names, p2t, selection = check_options(args)
    methods = [make_method(n, templates=args.templates, rewriter=args.rewriter, vocabulary=args.vocabulary,
                           prompt2text=p2t) for n in names]
    options = {k: v for k, v in vars(args).items() if k != "func"}
    return SynthesizeJob(args.input, args.out, methods, samples=args.samples_per_track, seed=args.seed,
                         selection=selection, input_format=args.input_format, runner=args.runner,
                         workers=args.workers, beam_args=beam_args, options=options)
