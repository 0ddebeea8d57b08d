# Two commands do all set-up: `make test` and `make demo` create .venv when it is
# missing and install the package with the pinned torch/torchvision and every extra
# (mm: OpenMMLab, plots: matplotlib, export: ONNX, test: pytest).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: test demo bench install clean

$(STAMP): setup.cfg pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<27"
	$(PY) -m pip install -q -c requirements/constraints.txt torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[mm,plots,export,test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) --durations=15 tests

demo: $(STAMP)
	$(PY) tools/demo.py

bench: $(STAMP)
	$(PY) benchmarks/perf.py

clean:
	rm -rf $(VENV) work_dirs data/demo
