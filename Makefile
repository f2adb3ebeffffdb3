# The two Quick start commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The benchmarks' own environment: the anchors we compare with are installed here only.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
ADDR ?= 127.0.0.1:8025

.PHONY: run test lint format bench bench-quick docs clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)
	cd manage_example && ../$(BIN)/python manage.py migrate --noinput -v0
	@printf '%s\n' "" \
	  "The help desk answers mail to help@example.com. Send it a first mail from another terminal:" \
	  "" \
	  "  $(BIN)/python -c \"import smtplib; smtplib.SMTP('$(word 1,$(subst :, ,$(ADDR)))', $(word 2,$(subst :, ,$(ADDR)))).sendmail('you@example.org', ['help@example.com'], b'From: you@example.org\\r\\nSubject: My printer is on fire\\r\\n\\r\\nIt was working yesterday.')\"" \
	  "" \
	  "then see the ticket it opened and the reply waiting in the outbound queue with:" \
	  "" \
	  "  $(BIN)/python manage_example/manage.py tickets" \
	  ""
	cd manage_example && ../$(BIN)/python manage.py runmailserver $(ADDR)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(BENCH_STAMP): pyproject.toml setup.py
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e . 'psycopg[binary]' django-mailer django-post-office pyinstrument
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py

bench-quick: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py --quick

clean:
	rm -rf $(VENV) $(BENCH_VENV) .tox build *.egg-info manage_example/db.sqlite3

docs: $(STAMP)
	$(BIN)/python -m sphinx -W -q -b html docs docs/_build/html
