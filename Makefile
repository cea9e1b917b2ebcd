# viml-synth: `make demo` and `make test` work from a fresh clone (they run `make install` first).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Where the musicnn wheel and converted weights live (same default as the code).
CACHE  ?= $(if $(VIML_SYNTH_CACHE),$(VIML_SYNTH_CACHE),$(HOME)/.cache/viml-synth)
DEMO_OUT ?= demo/out

# Nothing at run or test time may reach the Hugging Face Hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export VIML_SYNTH_CACHE := $(CACHE)
export VIML_SYNTH_LLM_BASE_URL VIML_SYNTH_LLM_MODEL VIML_SYNTH_LLM_BACKEND

.PHONY: install demo test lint bench clean help

help:
	@echo "make demo    set up, then tag the bundled demo clips and write descriptions of them"
	@echo "make test    set up, then run the test suite (offline)"
	@echo "make lint    ruff check (configuration in pyproject.toml)"
	@echo "make bench   run the benchmarks in bench/ (prints figures; tens of minutes)"
	@echo "make install create $(VENV) with pinned dependencies, fetch the musicnn weights wheel and WordNet"

install: $(VENV)/.installed $(CACHE)/.wordnet-nltk-tried

# torch==2.13.0 resolves to the CPU wheel on local disk (see ../shared/notes/stack.md); Beam extras are
# never installed (they pin old torch/transformers). Bytecode is compiled because this environment
# sets PYTHONDONTWRITEBYTECODE, and imports without .pyc files are twice as slow (pip compiles the
# dependencies itself; this compiles the project).
$(VENV)/.installed: requirements.txt requirements-dev.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	$(BIN)/python -m compileall -q -j 0 pipelines viml_model templates prompts > /dev/null
	$(BIN)/pip download --quiet --no-deps musicnn==0.1.0 -d $(CACHE)/wheels
	$(BIN)/viml-synth weights --log-level WARNING > /dev/null
	touch $@

# WordNet 3.0 for NLTK's METEOR (Debian's wordnet-base and wordnet-sense-index, via apt-get download: no
# root needed), laid out for NLTK's reader. Tried once per cache; without it evaluate-text still runs and
# says it has no METEOR.
$(CACHE)/.wordnet-nltk-tried: | $(VENV)/.installed
	$(BIN)/viml-synth wordnet --log-level WARNING > /dev/null || echo "note: WordNet not fetched; evaluate-text will have no METEOR"
	mkdir -p $(@D) && touch $@

# The whole job from configs/demo.yaml: tag the bundled clips, then write descriptions. prompt2text runs
# when an LLM endpoint is set, e.g. `make demo VIML_SYNTH_LLM_BASE_URL=http://localhost:8000/v1
# VIML_SYNTH_LLM_MODEL=<model>`; otherwise the demo says it skipped it and why.
demo: install
	$(BIN)/viml-synth run --config configs/demo.yaml --out $(DEMO_OUT)
	@echo; echo "Top tags per clip ($(DEMO_OUT)/tags):"
	@$(BIN)/viml-synth show $(DEMO_OUT)/tags --top 4
	@echo; echo "Descriptions ($(DEMO_OUT)/triplets):"
	@$(BIN)/viml-synth show $(DEMO_OUT)/triplets
	@$(BIN)/viml-synth report --triplets $(DEMO_OUT)/triplets --tags $(DEMO_OUT)/tags --out $(DEMO_OUT)/report.html \
		--log-level WARNING > /dev/null
	@echo; echo "== ViML on a SYNTHETIC benchmark: generated features with a known structure, not real media =="
	@echo "   (two small trainings, text dropout p=0 and p=0.5; about two minutes)"
	$(BIN)/python bench/text_dropout_study.py --bench $(DEMO_OUT)/synthetic --dropouts 0,0.5 --jobs 2 --threads 1
	@echo; echo "Report of the descriptions (open it in a browser): $(abspath $(DEMO_OUT))/report.html"

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/tagging.py
	$(BIN)/python bench/musicnn_model.py
	$(BIN)/python bench/descriptors_accuracy.py
	$(BIN)/python bench/synthesize.py
	$(BIN)/python bench/llm_concurrency.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/viml_train.py
	$(BIN)/python bench/viml_eval.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
