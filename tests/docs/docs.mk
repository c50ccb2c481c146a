##@ Test (tests/README.md)
# The README diagrams (tests/docs). Included by the top-level Makefile, which defines PY and `venv`.
# mermaid-cli is pinned in tests/docs/package.json; it drives the system Chromium, so puppeteer's
# own browser download is skipped.

DOCS_TOOLS_DIR := tests/docs

.PHONY: diagrams diagrams-install

$(DOCS_TOOLS_DIR)/node_modules/.package-lock.json: $(DOCS_TOOLS_DIR)/package-lock.json
	cd $(DOCS_TOOLS_DIR) && PUPPETEER_SKIP_DOWNLOAD=1 npm_config_update_notifier=false \
	  npm ci --no-audit --no-fund

diagrams-install: $(DOCS_TOOLS_DIR)/node_modules/.package-lock.json ## Install the pinned Mermaid renderer (npm ci in tests/docs; uses the system Chromium)

diagrams: venv diagrams-install ## Check and render every Mermaid diagram in the READMEs to .cache/diagrams/*.svg (offline)
	$(PY) $(DOCS_TOOLS_DIR)/diagrams.py --out .cache/diagrams
