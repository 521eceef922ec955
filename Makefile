# Backroom: `make serve` runs the shop API, `make test` runs every test. Both set up a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

.PHONY: setup serve test bench clean-venv

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)
	@scripts/system_packages.sh

serve: setup
	SHOP_DEMO_DATA=$${SHOP_DEMO_DATA-1} $(PY) -m scripts.serve

# the suite in TEST_WORKERS processes (pytest-xdist; each has its own stores and PostgreSQL schema);
# TEST_WORKERS=0 runs it in this one
TEST_WORKERS ?= 2
test: $(STAMP)
	@scripts/system_packages.sh --browser
	$(PY) -m pytest -q -p no:cacheprovider --timeout=600 -n $(TEST_WORKERS)

# PostgreSQL figures use SHOP_DATABASE_URL or SHOP_TEST_DATABASE_URL (default: the local server)
bench: setup
	SHOP_TEST_DATABASE_URL=$${SHOP_TEST_DATABASE_URL-postgresql://postgres@127.0.0.1:5432/test} $(PY) -m scripts.bench

clean-venv:
	rm -rf $(VENV)
