# party-button: set up, simulate, test, benchmark.
#
#   make simulate   set up and run the party in simulation (mock pins, keyboard button)
#   make test       set up and run the whole test suite
#   make bench      run every benchmark (see README, Benchmarks)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: building systemd-python, and the real programs the tests run; the system
# tests (tests/system) make Debian roots and boot them, natively and for arm64 under qemu.
DAEMON_DEBS := python3-venv python3-dev gcc pkg-config libsystemd-dev
TEST_DEBS := $(DAEMON_DEBS) mpv libasound2 openscad systemd chromium mosquitto \
	debootstrap systemd-container qemu-user-static binfmt-support \
	snapserver snapclient sox iproute2

.PHONY: simulate test lint bench install uninstall daemon-debs test-debs

simulate: daemon-debs $(BIN)/.daemon
	$(BIN)/party-button run --simulate --config party_button/config/config.yaml

test: test-debs $(BIN)/.test
	$(BIN)/python -m pytest -q

lint: $(BIN)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every benchmark in benchmarks/, one after the other; each prints its table.
bench: test-debs $(BIN)/.test
	@set -e; for module in $(sort $(basename $(notdir $(wildcard benchmarks/[a-z]*.py)))); do \
		echo "== benchmarks.$$module"; $(BIN)/python -m benchmarks.$$module; done

# On the Raspberry Pi: the service, its user, config and songs (see README). DESTDIR works.
install:
	$(SUDO) DESTDIR=$(DESTDIR) systemd/install.sh

uninstall:
	$(SUDO) DESTDIR=$(DESTDIR) systemd/uninstall.sh

daemon-debs:
	@$(call install_debs,$(DAEMON_DEBS))

test-debs:
	@$(call install_debs,$(TEST_DEBS))

# Install the Debian packages in $(1) that are missing (apt-get only when needed).
define install_debs
	missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q $$missing; \
	fi
endef

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(BIN)/.daemon: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(BIN)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,beats,render,cluster,web]'
	touch $@ $(BIN)/.daemon
