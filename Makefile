# Two commands on a fresh machine: `make run` (demo on SQLite) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
export FLASK_APP = app:create_app
CHROMIUM ?= /usr/bin/chromium
# The tests use real PostgreSQL and Redis, as production does (scripts/services.sh starts them if down).
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# `make run PORT=8080`: the demo on another port (the platform fakes keep theirs: app/demo/simulate.py PORTS).
PORT ?= 5000

.PHONY: run test install translations chromium bench bench-board bench-collect bench-participants bench-publish \
	bench-rating bench-web bench-intake clean serve

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed translations

translations: $(BIN)/.installed
	@if ls app/translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then \
	  $(BIN)/pybabel -q compile -d app/translations; fi

# Debian's Chromium for the browser test (never `playwright install`: it downloads a browser).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian chromium for the browser test..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Browser test needs Chromium at $(CHROMIUM): sudo apt-get install chromium"; exit 1; fi; \
	fi

# The demo signs sessions with a random key written once into instance/secret_key (reused by simulate).
run: export SECRET_KEY_FILE ?= $(CURDIR)/instance/secret_key
run: install
	@mkdir -p instance; test -s "$$SECRET_KEY_FILE" || (umask 077; $(BIN)/python -c \
	  'import secrets; print(secrets.token_urlsafe(48))' > "$$SECRET_KEY_FILE")
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	@echo ""
	@echo "  Открытый муниципалитет: http://127.0.0.1:$(PORT)"
	@echo "  Логины (пароль demo): admin, moderator, head, analyst, executor, press, smm, smm_cbs"
	@echo "  Жители пишут в сети (имитация, журнал: instance/simulate.log)"
	@echo ""
	@eval "$$($(BIN)/flask demo-env)"; \
	$(BIN)/flask simulate --url http://127.0.0.1:$(PORT) > instance/simulate.log 2>&1 & SIM=$$!; \
	trap 'kill $$SIM 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

test: install chromium
	bash scripts/services.sh
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/queue_bench.py $(BENCH_ARGS)

# Collecting 550 participants' accounts against the local fakes (own database om_bench_collect; ≤ 60 s target).
bench-collect: install
	$(BIN)/python bench/collect_bench.py $(BENCH_ARGS)

# The head's board at 1 M tickets (same om_bench database; writes hot spots and snapshots there).
bench-board: install
	$(BIN)/python bench/board_bench.py $(BENCH_ARGS)

# The public directory at 550 accounts × 5 years of daily snapshots and 1 M posts (its own om_bench_participants
# database; `BENCH_ARGS=--keep` reuses the data already generated).
bench-participants: install
	$(BIN)/python bench/participants_bench.py $(BENCH_ARGS)

# Cross-posting one post with 5 photos to 100 accounts across the four networks against the local fakes (own
# database om_bench_publish; ≤ 60 s target). `BENCH_ARGS=--stub`: the engine alone, without the network modules.
bench-publish: install
	$(BIN)/python bench/bench_publish.py $(BENCH_ARGS)

# The staff rating page /rating at 550 accounts × 5 years of daily snapshots, 1 M posts and 1 M tickets (its own
# om_bench_rating database, built with load_tickets.py; `BENCH_ARGS=--keep` reuses the data already there).
bench-rating: install
	$(BIN)/python bench/rating_bench.py $(BENCH_ARGS)

# The staff pages against a bare Flask floor app (one SELECT 1, 20 KB) under the same gunicorn settings, wrk with 8
# connections, three interleaved rounds (issue 16; om_bench at 1 M tickets, `BENCH_ARGS=--load` loads it first;
# needs wrk: `sudo apt-get install wrk`). `BENCH_ARGS="--duration 10"` for a quicker run.
bench-web: install
	$(BIN)/python bench/web_bench.py $(BENCH_ARGS)

# Intake from the webhook to the ticket and the acknowledgement sent, against the floor (a bare endpoint under the
# same gunicorn settings answering the same client), in one run: gunicorn -w 2, 2 × worker.py, the fake VK API (its
# own database om_intake_bench, rebuilt; Redis db 9, flushed). `BENCH_ARGS="--messages 2000 --rq-workers 4"`.
bench-intake: install
	$(BIN)/python bench/intake_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
