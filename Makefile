# One command each: `make demo`, `make test`, `make bench`, `make lint`.
# Every target creates and fills its own virtual environment; nothing else is needed.
PYTHON ?= python3
VENV ?= .venv
VENV2 ?= .venv-genai2
PIP_FLAGS ?= --quiet --disable-pip-version-check
GENAI2 ?= google-genai>=2.20,<3

.PHONY: demo test test-core-genai2 test-extras test-browser test-ray bench bench-smoke lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[all,dev,tests]"
	touch $@

$(VENV2)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV2)
	$(VENV2)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENV2)/bin/pip install $(PIP_FLAGS) -e ".[all,dev,tests]" "$(GENAI2)"
	touch $@

## demo: index the bundled sample corpus and search it (offline emulator unless GEMINI_API_KEY is set)
demo: $(VENV)/.installed
	$(VENV)/bin/ge2 demo

## test: the whole suite on google-genai 3.x, then again on google-genai 2.x (which
## langchain-google-genai and llama-index-embeddings-google-genai still pin), less the
## tutorials, the `ge2` command's subprocess tests, the benchmark smoke runs and the adapter
## e2e tests that hand the SDK nothing: they make no SDK call of their own that the
## library's e2e tests do not make on both
test: $(VENV)/.installed $(VENV2)/.installed
	$(VENV)/bin/python -m pytest
	$(MAKE) test-core-genai2

# Adapters never import google.genai (ruff's banned-API rule); these e2e files hand it no
# SDK object either, so the 2.x pass skips them (the drop-in tests, which do, stay).
NO_SDK_E2E = test_chroma.py test_haystack.py test_lancedb.py test_llamaindex.py test_qdrant.py \
	test_vectorsearch.py test_weaviate_client.py test_weaviate_inference.py \
	test_weaviate_inference_robustness.py

test-core-genai2: $(VENV2)/.installed
	$(VENV2)/bin/python -c "import google.genai as g; assert g.__version__.startswith('2.'), g.__version__; print('google-genai', g.__version__)"
	$(VENV2)/bin/python -m pytest --ignore=tests/e2e/test_tutorials.py \
		--ignore=tests/e2e/test_benchmark_smoke.py --ignore=tests/e2e/test_batch_benchmark_smoke.py \
		--ignore-glob='tests/e2e/test_cli*.py' $(addprefix --ignore=tests/e2e/integrations/,$(NO_SDK_E2E))

## test-browser: `ge2 serve` in a real headless Chromium (Debian's `chromium` package;
## Playwright cannot download its own browsers here)
test-browser: $(VENV)/.installed
	@command -v chromium >/dev/null || test -n "$$GE2_CHROMIUM" || { echo "test-browser needs Chromium: apt-get install chromium (or set GE2_CHROMIUM)"; exit 1; }
	$(VENV)/bin/python -m pytest -m browser tests/browser

VENVR ?= .venv-ray

$(VENVR)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENVR)
	$(VENVR)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENVR)/bin/pip install $(PIP_FLAGS) -e ".[ray,dev]"
	touch $@

## test-ray: the Ray Data adapter on a local 2-CPU Ray, with only the [ray] extra installed
test-ray: $(VENVR)/.installed
	$(VENVR)/bin/python -m pytest -m ray tests/e2e/integrations/test_ray.py
	$(VENVR)/bin/python -m pytest -m "not ray" tests/e2e/test_tutorials.py -k ray

## test-extras: each extra installed alone, so a dependency missing from one extra shows
test-extras:
	bash .ci/test-extras

VENVB ?= .venv-bench

$(VENVB)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENVB)
	$(VENVB)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENVB)/bin/pip install $(PIP_FLAGS) -e ".[bench]"
	touch $@

## bench: the throughput benchmark against the peers (writes benchmarks/RESULTS.md and the
## chart); the peers pin google-genai 2.x, so it has its own environment
bench: $(VENVB)/.installed
	$(VENVB)/bin/python -m benchmarks.run

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(VENV2) $(VENVB) .venv-extra-* .pytest_cache build *.egg-info
