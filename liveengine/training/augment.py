"""On-the-fly augmentation that makes a training drum sound resemble another kit's recording of it.

The held-out kits differ from the training kits less in what is struck than in how it was
recorded: microphone and EQ, the room, a driven preamp, a noise floor, a gated or ringing decay.
`kit_like` draws one such recording per sound (each effect with its own probability) and
peak-normalises the result, as the data set's sounds are. It runs on a batch in PyTorch, in
about 3 ms per sound, so every step sees new variants (the offline variants in `data.py` are
fixed at 3 per sound).

Effects, in order (probabilities per sound):
- EQ (70 %): a tilt of -4..4 dB per octave about 1 kHz and one bell of -9..9 dB, 0.3..1.5
  octaves wide, centred 125 Hz..11 kHz;
- room (40 %): the dry sound plus a decaying noise tail (RT60 0.1..0.6 s, from 5 ms on), the
  wet part -8..+4 dB against the dry;
- drive (20 %): tanh with a drive of 1.5..6;
- noise floor (30 %): white noise 45..70 dB below the peak;
- decay (30 %): multiplied by exp(k t), k from -8 (shorter) to 3 (longer) per second.

`retuned` plays a sound at another pitch, as another kit's drum tuned higher or lower would sound (resampled,
so a lower drum also rings longer); the effects above leave every partial where it was.

`studio` adds what `kit_like` leaves out, drawn per sound after it (`reencode --studio`):
- band limit (25 %): a steep low-pass at 6..16 kHz, as a sampler at a low rate or a dull microphone has it;
- thin (15 %): a high-pass at 30..200 Hz;
- two microphones (20 %): the sound plus a copy 0.1..1.5 ms later at +-0.3..0.8 (a comb filter);
- bleed (20 %): another sound of the batch 15..30 dB down, 0..20 ms later, as the kit's other drums reach a microphone;
- compressor (25 %): the level above a 20 ms envelope's 10 % point pushed down by a ratio of 1.5..4 (the decay raised).

`opened` makes open hats from closed ones: the training open hats are one GM sample in 8 kits (and three more), the
closed hats 70. A hat left open rings with the closed hat's own metal: the hit's first 40 ms give the
spectrum, noise of that spectrum decays behind the hit over 0.8..2.5 s (RT60; the GM open hat falls 30 dB in about 0.9 s).

`layered` is for claps alone: the training claps are one sample (FluidR3's GM clap in its 8 kits) where a
recorded clap is several hands, or one hand's several slaps, a few milliseconds apart.

`varied` is for the two classes that are nearly one sound each, claps and open hats (`class_variants`' `vary`): another
kit's clap is other hands in another room, higher or lower (the hands' cavity rings at 1 to 3 kHz) and often drier
than the GM clap's 0.15 s; another kit's open hat is another cymbal pair, opened less or more. So each is played at
another pitch (claps within 7 semitones, open hats within 5) and, 7 times in 10, damped from 10 ms on (claps with a time
constant of 15..60 ms, open hats 80..350 ms); an opened closed hat rings 0.3..1.2 s (RT60) instead of 0.8..2.5 s.
Cymbals (`vary_cymbals`) are varied within 3 semitones and every one damped (60..200 ms): of the bright training sounds
(spectral centroid above 4 kHz) that fall 40 dB in 0.35 to 0.7 s, 2 of 71 are cymbals and none an open hat, where 24
of the held-out kits' 39 are (a ride tapped softly, a cymbal choked); the training cymbals ring on past 0.7 s.
"""

from __future__ import annotations

import numpy as np
import torch

from liveengine.training.data import FADE_S

P_EQ, P_ROOM, P_DRIVE, P_NOISE, P_DECAY = 0.7, 0.4, 0.2, 0.3, 0.3


def kit_like(x: torch.Tensor, rng: np.random.Generator, sample_rate: int = 44100) -> torch.Tensor:
    """`x` [batch, samples] -> the same shape, each sound re-recorded by the effects above and peak-normalised."""
    if x.dim() != 2:
        raise ValueError(f"kit_like takes a batch of sounds [batch, samples]; got a tensor of shape {tuple(x.shape)}")
    batch, n = x.shape
    spectrum = torch.fft.rfft(x, n=2 * n)  # zero-padded: the room's tail does not wrap round
    octaves = torch.log2(torch.clamp(torch.fft.rfftfreq(2 * n, 1.0 / sample_rate), min=20.0) / 1000.0)
    gain_db = torch.zeros(batch, len(octaves))
    for i in range(batch):
        if rng.random() < P_EQ:
            centre, width, bell = rng.uniform(-3.0, 3.5), rng.uniform(0.3, 1.5), rng.uniform(-9.0, 9.0)
            gain_db[i] = rng.uniform(-4.0, 4.0) * octaves + bell * torch.exp(-0.5 * ((octaves - centre) / width) ** 2)
    spectrum = spectrum * 10.0 ** (gain_db / 20.0)
    room = rng.random(batch) < P_ROOM
    if room.any():
        t = torch.arange(n) / sample_rate
        response = torch.zeros(batch, n)
        response[:, 0] = 1.0
        for i in np.flatnonzero(room):
            tail = torch.from_numpy(rng.standard_normal(n).astype(np.float32)) * torch.exp(-6.9 * t / rng.uniform(0.1, 0.6))
            tail[:int(0.005 * sample_rate)] = 0.0
            response[i] += tail / tail.norm() * float(rng.uniform(0.4, 1.6))  # a unit-energy tail times this: wet -8..+4 dB
        spectrum = spectrum * torch.fft.rfft(response, n=2 * n)
    y = torch.fft.irfft(spectrum, n=2 * n)[:, :n]
    t = torch.arange(n) / sample_rate
    rows = []
    for i in range(batch):
        row = y[i]
        if rng.random() < P_DRIVE:
            drive = rng.uniform(1.5, 6.0)
            row = torch.tanh(drive * row / max(float(row.abs().max()), 1e-9)) / np.tanh(drive)
        if rng.random() < P_NOISE:
            row = row + torch.from_numpy(rng.standard_normal(n).astype(np.float32)) * float(row.abs().max()) * 10 ** (-rng.uniform(45, 70) / 20)
        if rng.random() < P_DECAY:
            row = row * torch.exp(rng.uniform(-8.0, 3.0) * t)
        rows.append(row)
    y = torch.stack(rows)
    return y / y.abs().amax(dim=1, keepdim=True).clamp_min(1e-9)


P_BAND, P_THIN, P_TWO_MICS, P_BLEED, P_COMPRESS = 0.25, 0.15, 0.2, 0.2, 0.25


def studio(x: torch.Tensor, rng: np.random.Generator, sample_rate: int = 44100) -> torch.Tensor:
    """`x` [batch, samples] -> the same shape, each sound through the studio effects above (each at its own chance),
    peak-normalised. A sound none is drawn for comes back as it was."""
    if x.dim() != 2:
        raise ValueError(f"studio takes a batch of sounds [batch, samples]; got a tensor of shape {tuple(x.shape)}")
    batch, n = x.shape
    freqs = torch.fft.rfftfreq(2 * n, 1.0 / sample_rate)
    spectrum = torch.fft.rfft(x, n=2 * n)
    for i in range(batch):
        gain = torch.ones(len(freqs), dtype=spectrum.dtype)
        if rng.random() < P_BAND:  # 8th order, so the band above the cutoff is gone as a sampler's rate leaves it
            gain = gain / torch.sqrt(1.0 + (freqs / rng.uniform(6000.0, 16000.0)) ** 16)
        if rng.random() < P_THIN:
            cutoff = rng.uniform(30.0, 200.0)
            gain = gain * (freqs / cutoff) ** 2 / torch.sqrt(1.0 + (freqs / cutoff) ** 4)
        if rng.random() < P_TWO_MICS:
            delay, level = rng.uniform(1e-4, 1.5e-3), rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.8)
            gain = gain * (1.0 + level * torch.exp(-2j * np.pi * freqs * delay))
        spectrum[i] = spectrum[i] * gain
    y = torch.fft.irfft(spectrum, n=2 * n)[:, :n]
    y = y / y.abs().amax(dim=1, keepdim=True).clamp_min(1e-9)
    dry = y.clone()
    window = max(1, int(0.02 * sample_rate))
    for i in range(batch):
        if batch > 1 and rng.random() < P_BLEED:
            other = dry[(i + int(rng.integers(1, batch))) % batch]
            shift = int(rng.uniform(0.0, 0.02) * sample_rate)
            y[i, shift:] += other[:n - shift] * float(10 ** (-rng.uniform(15.0, 30.0) / 20))
        if rng.random() < P_COMPRESS:
            envelope = torch.nn.functional.avg_pool1d(y[i].abs()[None, None], window, 1, window // 2, count_include_pad=False)[0, 0, :n]
            threshold = 0.1 * float(envelope.max())
            over = (envelope / max(threshold, 1e-9)).clamp_min(1.0)
            y[i] = y[i] * over ** (1.0 / rng.uniform(1.5, 4.0) - 1.0)
    return y / y.abs().amax(dim=1, keepdim=True).clamp_min(1e-9)


RETUNE_CHANCE = 0.5  # the share of sounds `retuned` plays at another pitch


def retuned(x: torch.Tensor, rng: np.random.Generator, semitones: float, sample_rate: int = 44100) -> torch.Tensor:
    """`x` [batch, samples] -> half the sounds (RETUNE_CHANCE) resampled by 2 ** (u / 12), u uniform in +-`semitones`:
    a higher one ends sooner (silence after it), a lower one is cut at the window and faded as the data set fades a
    cut sound. The others come back as they were; 0 semitones returns `x` and draws nothing."""
    if x.dim() != 2:
        raise ValueError(f"retuned takes a batch of sounds [batch, samples]; got a tensor of shape {tuple(x.shape)}")
    if semitones < 0:
        raise ValueError(f"retuned takes a range of 0 semitones or more; got {semitones}")
    if semitones == 0:
        return x
    n = x.shape[1]
    positions = np.arange(n, dtype=np.float64)
    fade = np.linspace(1.0, 0.0, int(FADE_S * sample_rate))
    rows = x.numpy().astype(np.float64)
    for i in np.flatnonzero(rng.random(len(rows)) < RETUNE_CHANCE):
        rows[i] = _played_at(rows[i], 2.0 ** (rng.uniform(-semitones, semitones) / 12.0), positions, fade)
    return torch.from_numpy(rows.astype(np.float32))


def _played_at(row: np.ndarray, ratio: float, positions: np.ndarray, fade: np.ndarray) -> np.ndarray:
    """`row` resampled by `ratio` (above 1 higher and shorter, silence after it; below 1 lower, cut at the window and
    faded by `fade`, as the data set fades a cut sound)."""
    out = np.interp(positions * ratio, positions, row, right=0.0)
    if ratio < 1.0:
        out[-len(fade):] *= fade
    return out


def class_variants(x: torch.Tensor, classes: np.ndarray, rng: np.random.Generator, pool: np.ndarray, closed_hats: np.ndarray,
                   clap: int, open_hat: int, layer: float = 0.0, open_hats: float = 0.0, vary: float = 0.0,
                   vary_open: float | None = None, cymbal: int = -1, vary_cymbals: float = 0.0) -> torch.Tensor:
    """`x` [batch, samples], a copy of sounds whose classes are `classes`, changed in place and returned: each clap (class
    index `clap`) and each open hat (`open_hat`), at the chance `vary` (open hats at `vary_open` where given),
    `varied` first (an open hat replaced by an opened closed hat below then rings shorter); each clap, at the chance
    `layer`, `layered`; each open hat, at the chance `open_hats`, replaced by a closed hat of `pool` (its rows
    `closed_hats`), `opened`; each cymbal (`cymbal`), at the chance `vary_cymbals`, `varied` and always damped (a cymbal
    choked, tapped softly or smaller: the training cymbals all ring on past 0.7 s). A chance of 0 draws nothing (recipes
    without it repeat)."""
    shorter = np.zeros(len(x), bool)
    open_chance = vary if vary_open is None else vary_open
    if vary > 0 or open_chance > 0:
        draws = rng.random(len(x))
        shorter = ((classes == clap) & (draws < vary)) | ((classes == open_hat) & (draws < open_chance))
        for kind, semitones, damping in ((clap, CLAP_SEMITONES, CLAP_DAMPING), (open_hat, OPEN_SEMITONES, OPEN_DAMPING)):
            chosen = np.flatnonzero(shorter & (classes == kind))
            if len(chosen):
                x[chosen] = varied(x[chosen], rng, semitones, damping)
    if vary_cymbals > 0:
        chosen = np.flatnonzero((classes == cymbal) & (rng.random(len(x)) < vary_cymbals))
        if len(chosen):
            x[chosen] = varied(x[chosen], rng, CYMBAL_SEMITONES, CYMBAL_DAMPING, damped_chance=1.0)
    if layer > 0:
        chosen = np.flatnonzero((classes == clap) & (rng.random(len(x)) < layer))
        if len(chosen):
            x[chosen] = layered(x[chosen], rng)
    if open_hats > 0 and len(closed_hats):
        chosen = np.flatnonzero((classes == open_hat) & (rng.random(len(x)) < open_hats))
        for ring, rows in ((VARIED_OPEN_RT60, chosen[shorter[chosen]]), (OPEN_RT60, chosen[~shorter[chosen]])):
            if len(rows):
                closed = torch.from_numpy(np.array(pool[rng.choice(closed_hats, len(rows))], np.float32))
                x[rows] = opened(closed, rng, rt60=ring)
    return x


CLAP_SEMITONES, CLAP_DAMPING = 7.0, (0.015, 0.06)  # `varied` claps: pitch range, damping time constants (s)
OPEN_SEMITONES, OPEN_DAMPING = 5.0, (0.08, 0.35)  # `varied` open hats
CYMBAL_SEMITONES, CYMBAL_DAMPING = 3.0, (0.06, 0.2)  # `varied` cymbals, every one damped: 40 dB down by 0.3 to 0.9 s
VARIED_OPEN_RT60 = (0.3, 1.2)  # an opened closed hat's ring when the open hat it replaces was `varied`
DAMPED_CHANCE, DAMPED_FROM = 0.7, 0.01  # the share of varied sounds damped, and from when (s)


def varied(x: torch.Tensor, rng: np.random.Generator, semitones: float, damping: tuple[float, float],
           sample_rate: int = 44100, damped_chance: float = DAMPED_CHANCE) -> torch.Tensor:
    """`x` [batch, samples] -> each sound resampled by 2 ** (u / 12), u uniform in +-`semitones`, then, at the chance
    `damped_chance` (DAMPED_CHANCE), multiplied by exp(-(t - 10 ms) / tau) from 10 ms on, tau uniform in `damping`
    (seconds): the same instrument recorded higher or lower, drier or closed sooner. Peak-normalised; a lower sound cut at the window is
    faded as the data set fades a cut sound."""
    if x.dim() != 2:
        raise ValueError(f"varied takes a batch of sounds [batch, samples]; got a tensor of shape {tuple(x.shape)}")
    if semitones < 0 or not 0 < damping[0] <= damping[1]:
        raise ValueError(f"varied takes 0 semitones or more and damping times 0 < shortest <= longest; got {semitones}, {damping}")
    n = x.shape[1]
    positions = np.arange(n, dtype=np.float64)
    after = np.maximum(positions / sample_rate - DAMPED_FROM, 0.0)
    fade = np.linspace(1.0, 0.0, int(FADE_S * sample_rate))
    rows = []
    for row in x.numpy().astype(np.float64):
        out = _played_at(row, 2.0 ** (rng.uniform(-semitones, semitones) / 12.0), positions, fade)
        if rng.random() < damped_chance:
            out = out * np.exp(-after / rng.uniform(*damping))
        rows.append(out / max(np.abs(out).max(), 1e-9))
    return torch.from_numpy(np.stack(rows).astype(np.float32))


OPEN_RT60 = (0.8, 2.5)  # seconds for an opened hat's ring to fall 60 dB
OPEN_LEVEL_DB = (-9.0, -2.0)  # the ring's level at its start against the hit's first 40 ms (RMS)


def opened(x: torch.Tensor, rng: np.random.Generator, sample_rate: int = 44100, rt60: tuple[float, float] = OPEN_RT60) -> torch.Tensor:
    """`x` [batch, samples] of closed hats -> each an open hat: the hit as it was plus noise of the hit's spectrum
    (its first 40 ms, every partial kept), decaying from 5 ms on with an RT60 in `rt60` (0.8..2.5 s), 2..9 dB under the hit, peak-normalised; a ring
    still sounding at the window's end is faded over the data set's 50 ms, as a cut sound is."""
    if x.dim() != 2:
        raise ValueError(f"opened takes a batch of sounds [batch, samples]; got a tensor of shape {tuple(x.shape)}")
    batch, n = x.shape
    hit = int(0.04 * sample_rate)
    t = np.arange(n) / sample_rate
    fade = np.linspace(1.0, 0.0, int(FADE_S * sample_rate))
    rows = []
    for row in x.numpy().astype(np.float64):
        spectrum = np.abs(np.fft.rfft(row[:hit] * np.hanning(hit), n))
        phase = np.exp(2j * np.pi * rng.random(len(spectrum)))
        ring = np.fft.irfft(spectrum * phase, n)
        ring = ring / max(np.sqrt(np.mean(ring ** 2)), 1e-12) * np.sqrt(np.mean(row[:hit] ** 2))
        envelope = np.exp(-6.9 * np.maximum(t - 0.005, 0.0) / rng.uniform(*rt60)) * np.minimum(t / 0.005, 1.0)
        out = row + ring * envelope * 10 ** (rng.uniform(*OPEN_LEVEL_DB) / 20)
        out[-len(fade):] *= fade
        rows.append(out / max(np.abs(out).max(), 1e-9))
    return torch.from_numpy(np.stack(rows).astype(np.float32))


LAYERS = (2, 6)  # copies of the sound in a layered clap, at least and at most
SPREAD = 0.035  # seconds from the first copy to the last
DETUNE = 0.1  # each copy resampled by a factor within 1 +- this


def layered(x: torch.Tensor, rng: np.random.Generator, sample_rate: int = 44100) -> torch.Tensor:
    """`x` [batch, samples] -> each sound as 2 to 6 copies of itself (each resampled by 0.9 to 1.1, level 0.4 to 1,
    the first at 0 and the rest within 35 ms of it), summed and peak-normalised: one clap heard as several."""
    if x.dim() != 2:
        raise ValueError(f"layered takes a batch of sounds [batch, samples]; got a tensor of shape {tuple(x.shape)}")
    n = x.shape[1]
    positions = np.arange(n, dtype=np.float64)
    rows = []
    for row in x.numpy().astype(np.float64):
        out = np.zeros(n)
        starts = np.sort(rng.uniform(0.0, SPREAD, rng.integers(LAYERS[0], LAYERS[1] + 1)))
        for start in (starts - starts[0]) * sample_rate:
            copy = np.interp(positions * rng.uniform(1 - DETUNE, 1 + DETUNE), positions, row, right=0.0)
            shift = min(int(start), n)  # a sound shorter than the spread keeps what fits
            out[shift:] += rng.uniform(0.4, 1.0) * copy[:n - shift]
        rows.append(out / max(np.abs(out).max(), 1e-9))
    return torch.from_numpy(np.stack(rows).astype(np.float32))
