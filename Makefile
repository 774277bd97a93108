# The two commands a newcomer needs; each sets up what it needs first.
.PHONY: play test bench

play:
	@scripts/setup.sh play
	.venv/bin/liveengine play --demo

test:
	@scripts/setup.sh test
	@scripts/test.sh  # the JACK tests one at a time, beside the others three at a time at nice 10

bench:
	@scripts/setup.sh bench
	.venv/bin/python bench/run.py
