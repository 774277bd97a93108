"""What a device that will not open is told to try (built without PortAudio: the function the backend calls)."""

from __future__ import annotations

from liveengine.audio.sounddevice_backend import open_failure_fix


def test_a_refused_rate_names_the_devices_rate_and_is_never_suggested_again():
    # A 48 kHz JACK server refusing --samplerate 44100 once heard "Try another --samplerate (44100, 48000, 96000)".
    assert open_failure_fix(44100, 48000.0) == "The device runs at 48000 Hz: try --samplerate 48000, or another --blocksize or --device."


def test_without_a_usable_device_rate_the_other_rates_are_listed():
    assert open_failure_fix(48000, 48000.0) == "Try --samplerate 44100 or 96000, or another --blocksize or --device."  # the rate was not the problem
    assert open_failure_fix(96000, 22050.0) == "Try --samplerate 44100 or 48000, or another --blocksize or --device."
