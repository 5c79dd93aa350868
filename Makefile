# The two README commands are `make lab` and `make test`; the rest are for maintainers.
PYTHON ?= python3
VENV   := .venv
ifeq ($(OS),Windows_NT)
BIN := $(VENV)/Scripts
else
BIN := $(VENV)/bin
endif
STAMP  := $(VENV)/.installed

.PHONY: lab test lint unit notebooks notebooks-zh zh messages execute fast-times readme-results student grade bench mutation clean

# (Re)install only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[course,test]'
	touch $(STAMP)

# Jupyter refuses to run as root unless told; containers and some classroom machines run as root.
AS_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

NBVAL := COURSE_FAST=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider
# The notebooks nbval runs in `make test`: every English chapter, and one Chinese chapter. The
# Chinese code cells are the English ones byte for byte (tests/test_zh.py checks all eight), so one
# chapter proves the rest of the edition (COURSE_LANG=zh, the verdicts shown in Chinese) without
# doubling the notebooks' time; `make notebooks-zh` runs all eight.
NOTEBOOKS := notebooks/[0-9]*.ipynb notebooks/zh/01_data.ipynb

lab: $(STAMP)  ## open the course in JupyterLab
	$(BIN)/jupyter lab $(AS_ROOT) notebooks/

test: $(STAMP)  ## lint, unit and JupyterLab browser tests, and every notebook under nbval in fast mode
	$(BIN)/ruff check course_utils tests notebooks benchmarks
	COURSE_FAST=1 $(BIN)/python -m pytest tests
	$(NBVAL) $(NOTEBOOKS)
	@$(BIN)/python -m tests.test_browser  # the last word: says loudly if the browser tests were skipped

unit: $(STAMP)  ## unit tests only
	COURSE_FAST=1 $(BIN)/python -m pytest tests

notebooks: $(STAMP)  ## nbval over the notebooks in fast mode (the English ones and one Chinese)
	$(NBVAL) $(NOTEBOOKS)

notebooks-zh: $(STAMP)  ## nbval over every Chinese notebook in fast mode (not in `make test`)
	$(NBVAL) notebooks/zh

zh: $(STAMP)  ## the Chinese edition: sync notebooks/zh/translations/*.po, write notebooks/zh/*.ipynb
	$(BIN)/python -m course_utils.instructor.translation

messages: $(STAMP)  ## the message catalogues: add new messages, retire unused ones
	$(BIN)/python -m course_utils.instructor.messages

execute: $(STAMP)  ## re-run every notebook in the real configuration and store its outputs
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 notebooks/[0-9]*.ipynb
	for nb in notebooks/[0-9]*.ipynb; do n=$${nb#notebooks/}; $(BIN)/python -m course_utils.exercises.questionnaire $$nb quiz$$(expr $${n%%_*} + 0) || exit 1; done  # the questionnaires' cells as questionnaire.insert writes them (tests/test_exercises.py)
	$(BIN)/python -m benchmarks.readme  # the results in README.md, README.zh.md and docs/performance.md, from those outputs
	$(BIN)/python -m course_utils.instructor.translation  # notebooks/zh/ carries the new outputs too

fast-times: $(STAMP)  ## time every notebook in fast mode (notebooks/fast_times.json), for the chapters' opening boxes
	$(BIN)/python -m benchmarks.fast_times
	$(BIN)/python -m benchmarks.readme

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
