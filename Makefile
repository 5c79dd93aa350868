# The two README commands are `make lab` and `make test`; the rest are for maintainers.
PYTHON ?= python3
VENV   := .venv
ifeq ($(OS),Windows_NT)
BIN := $(VENV)/Scripts
else
BIN := $(VENV)/bin
endif
STAMP  := $(VENV)/.installed

.PHONY: lab test lint unit notebooks execute readme-results student grade bench mutation clean

# (Re)install only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[course,test]'
	touch $(STAMP)

# Jupyter refuses to run as root unless told; containers and some classroom machines run as root.
AS_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

lab: $(STAMP)  ## open the course in JupyterLab
	$(BIN)/jupyter lab $(AS_ROOT) notebooks/

test: $(STAMP)  ## lint, unit and JupyterLab browser tests, and every notebook under nbval in fast mode
	$(BIN)/ruff check course_utils tests notebooks benchmarks
	COURSE_FAST=1 $(BIN)/python -m pytest tests
	COURSE_FAST=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider notebooks
	@$(BIN)/python -m tests.test_browser  # the last word: says loudly if the browser tests were skipped

unit: $(STAMP)  ## unit tests only
	COURSE_FAST=1 $(BIN)/python -m pytest tests

notebooks: $(STAMP)  ## nbval over the notebooks in fast mode
	COURSE_FAST=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider notebooks

execute: $(STAMP)  ## re-run every notebook in the real configuration and store its outputs
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 notebooks/[0-9]*.ipynb
	$(BIN)/python -m benchmarks.readme  # the results in README.md and docs/performance.md, from those outputs

readme-results: $(STAMP)  ## copy the measured results in README.md and docs/performance.md from the notebooks' stored outputs
	$(BIN)/python -m benchmarks.readme

student: $(STAMP)  ## write the student edition (solutions stripped) to build/student/
	$(BIN)/python -m course_utils.instructor.student notebooks build/student

# SUBMISSIONS/<student>/<notebook>.ipynb -> build/grading/grades.csv and grades_by_exercise.csv
grade: $(STAMP)  ## instructors: autograde a class with nbgrader (make grade SUBMISSIONS=dir)
	$(if $(SUBMISSIONS),,$(error give the submissions folder: make grade SUBMISSIONS=dir, with dir/<student>/05_evaluation.ipynb ...))
	$(BIN)/python -m course_utils.instructor.grading grade "$(SUBMISSIONS)" --course build/grading

bench: $(STAMP)  ## performance benchmarks (not part of the tests): time to accuracy, speed, latency, phone photos
	$(BIN)/python -m benchmarks.time_to_accuracy
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.latency
	$(BIN)/python -m benchmarks.phone_photos

mutation: $(STAMP)  ## maintainers: break the core modules one way at a time; the unit tests must notice (not in CI)
	$(BIN)/python -m benchmarks.mutation --jobs 2 --min-score 90

clean:
	rm -rf build runs data/.embedded* data/decoded .pytest_cache
