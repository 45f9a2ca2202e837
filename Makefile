# One-command set-up: `make test` and `make book` create .venv if missing, install the project from the
# package registry (torch and torchvision resolved together), check that torch and torchvision import,
# then test / build. Re-running is quick: installation is redone only when pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PROFILE ?= cpu
# two pytest workers (pytest-xdist), one test file each at a time: the suite is mostly single-threaded Python
# (imports, kernels, child processes), so 2 cores run it about 1.4x faster; PYTEST_ARGS= runs it serially
PYTEST_ARGS ?= -n 2 --dist loadfile
# torch's OpenMP threads busy-wait by default, which slows small CPU runs badly on a shared 2-core machine
export OMP_WAIT_POLICY ?= PASSIVE
TEST_PATHS ?= tests notebooks
# The real copies of the paper's data (CIFAR-10 JPEG copy, UCI sets, Speech Commands), read where they lie; tests
# that need them skip, naming the path, on a machine without them. Decoded arrays are cached in ~/.cache/mixup_repro.
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)/SHA256SUMS),)
export MIXUP_REPRO_DATA ?= $(SHARED_DATA)
endif

.PHONY: test book book-only clean-book lint env

$(BIN)/python:
	@echo "[make] creating $(VENV) (once; the installation that follows takes about 1.5-3 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	@echo "[make] installing the project and torch + torchvision into $(VENV) (pip lists each download)"
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'
	$(BIN)/python -c "import torch, torchvision; print('torch', torch.__version__, '| torchvision', torchvision.__version__)"
	touch $@

$(VENV)/.stamp-book: pyproject.toml $(VENV)/.stamp-dev
	@echo "[make] installing the book extra (jupyter-book, papermill) into $(VENV)"
	$(BIN)/python -m pip install -q -e '.[dev,book]'
	@echo "[make] installed; activate it for the commands of the README: source $(VENV)/bin/activate"
	touch $@

env: $(VENV)/.stamp-dev

# tests/ and every notebook template (nbmake) in one pytest run
# (the book extra too: the API page's test builds it with Sphinx)
test: $(VENV)/.stamp-book
	$(BIN)/python -c "import torch, torchvision; torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)"
	$(BIN)/python -m pytest --nbmake $(TEST_PATHS) $(PYTEST_ARGS)

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check mixup_repro tests

# The main job: execute every chapter template with the profile's parameters, then render the book.
book: $(VENV)/.stamp-book
	$(BIN)/python -m mixup_repro book --profile $(PROFILE)
	@echo "Book built: file://$(CURDIR)/_build/html/index.html"

clean-book:
	rm -rf _build book/chapters/*.ipynb
