# The deploy rehearsal: tests/rehearsal (README, "Deploy rehearsal"). Included by the top-level
# Makefile, which defines PY, LOCAL_REGION and `venv`; cdk-install and tools come from
# cdk/cdk.mk and charts/chart.mk. `make test` runs the same tests as part of the suite.

.PHONY: deploy-rehearsal

deploy-rehearsal: venv cdk-install tools ## Rehearse the AWS deploy on a private emulator: real cdk bootstrap+deploy, every resource read back, smoke as the app role, IAM checks, release render
	$(LOCAL_REGION) $(PY) -m pytest tests/rehearsal -v $(PYTEST_ARGS)
