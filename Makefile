# The two commands of the README's quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch that lies on these machines' disk; a looser requirement
# would download a multi-GB CUDA build. Every later install is held to it.
TORCH_PIN := torch==2.13.0
CONSTRAINTS := $(VENV)/constraints.txt
PLUGIN_DIRS := $(wildcard plugins/*/)
STAMP := $(VENV)/.installed

.PHONY: venv browser demo test bench bench-quick clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	echo "$(TORCH_PIN)" > $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) $(TORCH_PIN)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[test]" $(foreach dir,$(PLUGIN_DIRS),-e $(dir))
	touch $(STAMP)

DEMO := demo_work
# Minutes of training for the whole demo, split over its two architectures (fold 0 each).
DEMO_BUDGET := 6

# The main job end to end on generated phantoms (under 10 minutes on 2 CPU cores): raw
# COVID-19-CT-Seg layout -> converter -> plans fitted to a time budget, preprocessing and
# training of two architectures (fold 0) -> find-best ranks them on cross-validation and
# chooses post-processing -> compare prints their case-by-case differences with
# confidence intervals and tests -> the best is exported as one archive with ONNX networks
# and predicts three new patients (ONNX Runtime, the default for it) -> evaluation -> per-patient report
# (demo_work/report/report.html).
demo: venv
	rm -rf $(DEMO)
	$(BIN)/python -m covplan plugins
	$(BIN)/python -m covplan demo-data $(DEMO)/raw_ct3d --kind ct3d --cases 8
	$(BIN)/python -m covplan demo-data $(DEMO)/raw_new_patients --kind ct3d --cases 3 --seed 1
	$(BIN)/python -m covplan convert covid-ct-seg $(DEMO)/raw_ct3d $(DEMO)/dataset_ct3d
	$(BIN)/python -m covplan convert covid-ct-seg $(DEMO)/raw_new_patients $(DEMO)/new_patients
	$(BIN)/python -m covplan plan-and-train $(DEMO)/dataset_ct3d -o $(DEMO)/work --arch plain_unet --arch qchc_unet \
		--configuration 3d_fullres --folds 0 --time-budget $(DEMO_BUDGET) --budget-scope total --num-workers 1
	$(BIN)/python -m covplan find-best $(DEMO)/work
	$(BIN)/python -m covplan compare $(DEMO)/work/plain_unet__3d_fullres $(DEMO)/work/qchc_unet__3d_fullres \
		--metric Dice --metric NSD
	$(BIN)/python -m covplan export -o $(DEMO)/best_model.zip --onnx \
		$(DEMO)/work/$$($(BIN)/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["best"])' $(DEMO)/work/find_best.json)
	$(BIN)/python -m covplan predict -i $(DEMO)/new_patients/imagesTr -o $(DEMO)/predictions --no-tta \
		-m $(DEMO)/best_model.zip
	$(BIN)/python -m covplan evaluate $(DEMO)/new_patients/labelsTr $(DEMO)/predictions -j 1
	$(BIN)/python -m covplan report $(DEMO)/predictions --images $(DEMO)/new_patients/imagesTr -o $(DEMO)/report

# Debian's Chromium and chromedriver for the report viewer's browser test
# (tests/reporting/test_viewer_in_browser.py): installed as root where apt-get is, never
# downloaded otherwise; without them that test skips and says why, and the build goes on.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
		|| echo "could not install chromium and chromium-driver: the browser test will skip"; \
	else echo "no chromium (as root: apt-get install chromium chromium-driver): the browser test will skip"; fi

# The layers of ../shared/ARCHITECTURE.md first ([tool.importlinter] in pyproject.toml), then the
# suite on two pytest-xdist workers (one per core on the CI's two): each test file runs on one
# worker, so a module's fixtures are built once; the session's trained models are shared
# (tests/conftest.py).
TEST_WORKERS ?= 2
test: venv browser
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Side by side with nnU-Net v2; each script appends its table to docs/benchmarks.md.
bench: venv
	$(BIN)/python benchmarks/bench_plan_preprocess.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/bench_budget.py

# The quick mode of each: proves the harness in under 10 minutes on 2 CPU cores.
bench-quick: venv
	$(BIN)/python benchmarks/bench_plan_preprocess.py --cases 4 8 --shape 32 96 96 --lidc-cases 2 -j 2 --repeat 1
	$(BIN)/python benchmarks/bench_training.py --quick
	$(BIN)/python benchmarks/bench_quality.py --quick
	$(BIN)/python benchmarks/bench_predict.py --no-tta-only
	$(BIN)/python benchmarks/bench_budget.py --quick

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
