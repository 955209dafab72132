# The two commands of the README, and the helpers around them.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test lint bench vendor fixtures clean

up:  ## install what is missing, start PostGIS, migrate, load the Nanjing demo, serve the map
	@bash scripts/bootstrap.sh
	@$(BIN)/cityops up

test:  ## the whole test suite against a PostGIS the suite starts itself
	@bash scripts/bootstrap.sh --dev
	@$(BIN)/python -m pytest

lint:  ## ruff, then mypy (its configuration and the packages it checks: pyproject.toml)
	@bash scripts/bootstrap.sh --dev
	@$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports && $(BIN)/mypy

bench:  ## every benchmark, with its baseline ratio (needs `make up` data or CITYOPS_DATABASE_URL)
	@bash scripts/bootstrap.sh --dev
	@$(BIN)/cityops bench locate
	@$(BIN)/cityops bench intake
	@$(BIN)/cityops bench access
	@$(BIN)/cityops bench forces
	@$(BIN)/cityops bench workflow
	@$(BIN)/cityops bench demo
	@$(BIN)/cityops bench map
	@$(BIN)/cityops bench hotspots
	@$(BIN)/cityops bench alerts
	@$(BIN)/cityops bench queues
	@$(BIN)/cityops bench search
	@$(BIN)/cityops bench screen
	@$(BIN)/cityops bench basemap
	@$(BIN)/cityops bench trends
	@$(BIN)/cityops bench incidents
	@$(BIN)/cityops bench faults
	@$(BIN)/cityops bench sensing
	@$(BIN)/cityops bench public
	@$(BIN)/cityops bench webhooks
	@$(BIN)/cityops bench exchange

vendor:  ## refresh Leaflet & co. from the npm registry (integrity-checked)
	@bash map_ui/vendor.sh

fixtures:  ## regenerate the Nanjing demo tiers into var/fixtures (done by `cityops demo` on demand)
	@$(BIN)/python -m fixtures.geo.generate_nanjing var/fixtures/nanjing

clean:
	rm -rf var test-artifacts .pytest_cache
