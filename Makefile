# The two commands a newcomer needs; each sets up what it needs first.
.PHONY: play test bench

play:
	@scripts/setup.sh play
	.venv/bin/liveengine play --demo

test:
	@scripts/setup.sh test
	.venv/bin/python -m pytest -q

bench:
	@scripts/setup.sh test
	.venv/bin/python bench/run.py
