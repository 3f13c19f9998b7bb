# make reproduce: bootstrap .venv, make sure the data is there, run the whole workflow.
# make test:      the same bootstrap, then pytest in 2 workers (unit tests + the DAG on config/ci.yaml).
# make test-fast: the unit tests alone (under a minute).
# make compare:   a fresh run's tables against a stored reference (REF=expected/default RUN=paper_tables).
# make coverage:  C1's interval coverage on simulated studies, through the workflow's chain -> docs/coverage.md.
# make findings:  write README.md's one line per claim from the studies expected/headline.yaml names.
# make slurm-packages: install Debian's munge and Slurm (root) for the Slurm tests, which otherwise skip.
# make lint:      snakemake --lint, ruff and snakefmt --check (CI runs it).
# make checksums: rerun the ci DAG and store its tables' checksums (after a change meant to alter results).
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
CORES ?= all
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: reproduce test test-fast checksums compare coverage findings data bench lint clean slurm-packages

$(STAMP): envs/requirements.txt pyproject.toml setup.py src/flatenn/_kernels.c
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r envs/requirements.txt
	$(VENV)/bin/pip install -q --no-build-isolation --no-deps -e .
	touch $(STAMP)

data:
	@if [ ! -f $(FASHION) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist', or set dataset.root in config/default.yaml to a torchvision data root that holds FashionMNIST/raw/" >&2; \
	    exit 1; \
	  fi; \
	fi

# Only on request (CI asks): the tests start their own cluster from these binaries in a temporary
# folder and never install anything themselves.
slurm-packages:
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || { \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq munge slurmd slurmctld slurm-client >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq munge slurmd slurmctld slurm-client >/dev/null; }; }

reproduce: $(STAMP) data
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(STAMP) data
	$(VENV)/bin/python -m pytest -q -n 2 --durations=12

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow"

checksums: $(STAMP) data
	rm -rf results/ci-checksums
	$(VENV)/bin/snakemake -d results/ci-checksums --configfile config/ci.yaml --cores $(CORES)
	cd results/ci-checksums/paper_tables && sha256sum $$(ls *.csv | grep -v '^runtime.csv$$') > $(CURDIR)/tests/ci_tables.sha256
	@echo "written on $$($(VENV)/bin/python -c 'from flatenn import numerics; print(numerics.cpu_signature())'): make tests/ci_tables.cpus name only the CPU models it was verified on"

REF ?= expected/default
RUN ?= paper_tables
compare: $(STAMP)
	$(VENV)/bin/flatenn compare --ref $(REF) --run $(RUN) --out results/compare.csv

findings: $(STAMP)
	$(VENV)/bin/flatenn findings --headline expected/headline.yaml --plan config/analysis.yaml --readme README.md

coverage: $(STAMP)
	$(VENV)/bin/python tests/coverage_sim.py docs/coverage.md

bench: $(STAMP) data
	$(VENV)/bin/python benchmarks/bench.py

lint: $(STAMP) data
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/ruff check src tests benchmarks notebooks
	$(VENV)/bin/snakefmt --line-length 120 --check Snakefile workflow

clean:
	rm -rf results figures paper_tables .snakemake report.html
