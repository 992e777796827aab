# party-button: set up, simulate, test, benchmark.
#
#   make simulate   set up and run the party in simulation (mock pins, keyboard button)
#   make test       set up and run the whole test suite
#   make check      the fast test loop: no root, no system tests, no slow tests
#   make docs       build the documentation into docs/_build/html (and the man page)
#   make bench      run every benchmark (see docs/development/benchmarks.md)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: building systemd-python, and the real programs the tests run; the system
# tests (tests/system) make Debian roots and boot them, natively and for arm64 under qemu.
DAEMON_DEBS := python3-venv python3-dev gcc pkg-config libsystemd-dev
TEST_DEBS := $(DAEMON_DEBS) mpv libasound2 openscad systemd chromium mosquitto \
	debootstrap systemd-container qemu-user-static binfmt-support pulseaudio \
	snapserver snapclient sox iproute2

.PHONY: simulate test check lint docs bench install uninstall daemon-debs test-debs

simulate: daemon-debs $(BIN)/.daemon
	$(BIN)/party-button run --simulate --config config/config.yaml

test: test-debs $(BIN)/.test
	$(BIN)/python -m pytest -q

# The fast loop: tests that need neither root nor minutes (see docs/development/testing.md).
check: $(BIN)/.test
	$(BIN)/python -m pytest -q -m "not slow" --ignore=tests/system

# The documentation: warnings are errors (-W), every reference must resolve (-n), offline.
docs: $(BIN)/.test
	$(BIN)/python -m sphinx -q -W -n --keep-going -b html docs docs/_build/html
	$(BIN)/python -m sphinx -q -W -n --keep-going -b man docs docs/_build/man

lint: $(BIN)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every benchmark in benchmarks/, one after the other; each prints its table.
bench: test-debs $(BIN)/.test
	@set -e; for module in $(sort $(basename $(notdir $(wildcard benchmarks/[a-z]*.py)))); do \
		echo "== benchmarks.$$module"; $(BIN)/python -m benchmarks.$$module; done

# On the Raspberry Pi: the service, its user, config and songs (docs/tutorials/install-on-the-pi.md).
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
	$(BIN)/pip install -q -e '.[dev,beats,render,cluster,web,docs]'
	touch $@ $(BIN)/.daemon
