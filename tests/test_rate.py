"""The one rate limiter (OSC clients and MIDI inputs): a second's burst, then the rate, never more."""

from liveengine.control.rate import TokenBucket


def test_a_burst_of_one_second_then_the_rate():
    bucket = TokenBucket(100, now=0.0)
    assert sum(bucket.take(0.0) for _ in range(150)) == 100  # the burst: a second's worth
    assert not bucket.take(0.0)
    assert sum(bucket.take(0.5) for _ in range(100)) == 50  # half a second refills half
    # A steady stream at twice the rate for 10 s: the 50 tokens refilled since, then the rate.
    passed = sum(bucket.take(1.0 + i / 200) for i in range(2000))
    assert 1045 <= passed <= 1055
    assert sum(bucket.take(100.0) for _ in range(1000)) == 100  # a long quiet refills a second's worth, no more


def test_a_clock_that_goes_back_takes_nothing_away():
    # A MIDI input's bucket runs on the engine's frame clock; a note the audio server read a moment before the bucket
    # was made carries an earlier time. It must pass, and the bucket go on from there.
    bucket = TokenBucket(100, now=10.0)
    assert bucket.take(8.0)
    assert sum(bucket.take(8.0) for _ in range(200)) == 99  # the rest of the burst, no more
    assert sum(bucket.take(8.5) for _ in range(100)) == 50  # and refills from the earlier time
