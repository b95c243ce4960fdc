"""tdnn.audio: exact PCM scaling, downmix, anti-aliased resampling, one error per bad input."""

import wave as wavemod

import numpy as np
import pytest
import soundfile as sf

from tdnn import audio
from tdnn.errors import AudioError


def write_pcm_stdlib(path, ints, width, sr=16000, channels=1):
    """Write integer PCM with the standard library (an independent writer, not soundfile)."""
    ints = np.asarray(ints, dtype=np.int64)
    raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints.reshape(-1))
    with wavemod.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(sr)
        w.writeframes(raw)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_int16_is_scaled_exactly(tmp_path, rng):
    ints = rng.integers(-32768, 32768, 3000)
    write_pcm_stdlib(tmp_path / "a.wav", ints, 2)
    y = audio.load(tmp_path / "a.wav")
    assert y.dtype == np.float32 and y.ndim == 1
    np.testing.assert_array_equal(y, (ints / 32768).astype(np.float32))


def test_24bit_is_scaled_exactly(tmp_path, rng):
    ints = rng.integers(-(1 << 23), 1 << 23, 3000)
    write_pcm_stdlib(tmp_path / "a.wav", ints, 3)
    np.testing.assert_array_equal(audio.load(tmp_path / "a.wav"),
                                  (ints / (1 << 23)).astype(np.float32))


def test_int32_and_float_and_flac(tmp_path, rng):
    x = rng.uniform(-0.9, 0.9, 4000)
    sf.write(tmp_path / "i32.wav", x, 16000, subtype="PCM_32")
    sf.write(tmp_path / "f.wav", x.astype(np.float32), 16000, subtype="FLOAT")
    sf.write(tmp_path / "a.flac", x, 16000, subtype="PCM_16")
    np.testing.assert_allclose(audio.load(tmp_path / "i32.wav"), x, atol=1e-7)
    np.testing.assert_array_equal(audio.load(tmp_path / "f.wav"), x.astype(np.float32))
    np.testing.assert_allclose(audio.load(tmp_path / "a.flac"), x, atol=1 / 32768)


def test_stereo_is_averaged(tmp_path, rng):
    left, right = rng.integers(-20000, 20000, (2, 2000))
    write_pcm_stdlib(tmp_path / "s.wav", np.stack([left, right], 1), 2, channels=2)
    np.testing.assert_allclose(audio.load(tmp_path / "s.wav"), (left + right) / 2 / 32768,
                               atol=1e-7)


def test_resampling_keeps_passband_and_removes_alias(tmp_path):
    t = np.arange(44100) / 44100
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), 44100, subtype="FLOAT")
    sf.write(tmp_path / "high.wav", 0.5 * np.sin(2 * np.pi * 10000 * t), 44100, subtype="FLOAT")
    y = audio.load(tmp_path / "tone.wav", sr=16000)
    assert len(y) == 16000
    ref = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert np.abs(y - ref)[500:-500].max() < 1e-3
    # 10 kHz is above the 8 kHz Nyquist: naive decimation would alias it to 6 kHz.
    high = audio.load(tmp_path / "high.wav", sr=16000)
    assert np.sqrt(np.mean(high[500:-500] ** 2)) < 1e-3


def test_save_round_trip_makes_folders(tmp_path, rng):
    x = rng.uniform(-1, 1, 1600).astype(np.float32)
    path = tmp_path / "deep" / "er" / "x.wav"
    audio.save(path, x)
    assert sf.info(path).subtype == "PCM_16"
    np.testing.assert_allclose(audio.load(path), x, atol=1 / 32768)


def good_wav_bytes(tmp_path):
    sf.write(tmp_path / "good.wav", np.zeros(1600) + 0.1, 16000, subtype="PCM_16")
    return (tmp_path / "good.wav").read_bytes()


def make_missing(tmp_path):
    return tmp_path / "nope.wav"


def make_directory(tmp_path):
    (tmp_path / "dir.wav").mkdir()
    return tmp_path / "dir.wav"


def make_empty(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    return tmp_path / "empty.wav"


def make_truncated_header(tmp_path):
    (tmp_path / "th.wav").write_bytes(good_wav_bytes(tmp_path)[:30])
    return tmp_path / "th.wav"


def make_truncated_data(tmp_path):
    data = good_wav_bytes(tmp_path)
    (tmp_path / "td.wav").write_bytes(data[:len(data) // 2])
    return tmp_path / "td.wav"


def make_corrupt(tmp_path):
    data = bytearray(good_wav_bytes(tmp_path))
    data[8:12] = b"XXXX"  # RIFF form type no longer WAVE
    (tmp_path / "corrupt.wav").write_bytes(bytes(data))
    return tmp_path / "corrupt.wav"


def make_not_audio(tmp_path):
    (tmp_path / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    return tmp_path / "notes.wav"


def make_zero_length(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0), 16000, subtype="PCM_16")
    return tmp_path / "zero.wav"


def make_nan(tmp_path):
    sf.write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.1] * 100, np.float32), 16000,
             subtype="FLOAT")
    return tmp_path / "nan.wav"


def make_inf(tmp_path):
    sf.write(tmp_path / "inf.wav", np.array([0.0, np.inf, 0.1] * 100, np.float32), 16000,
             subtype="FLOAT")
    return tmp_path / "inf.wav"


def make_absurd_rate(tmp_path):
    write_pcm_stdlib(tmp_path / "rate.wav", np.zeros(100, int), 2, sr=10)
    return tmp_path / "rate.wav"


@pytest.mark.parametrize("make, words", [
    (make_missing, "not found"), (make_directory, "not a file"), (make_empty, "empty"),
    (make_truncated_header, "not readable"), (make_truncated_data, "truncated"),
    (make_corrupt, "not readable"), (make_not_audio, "not readable"),
    (make_zero_length, "zero-length"), (make_nan, "NaN"), (make_inf, "infinite"),
    (make_absurd_rate, "sample rate")])
def test_bad_input_raises_audio_error_naming_file(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(AudioError) as err:
        audio.load(path)
    message = str(err.value)
    assert str(path) in message and words in message and "\n" not in message


def test_absurd_target_rate(tmp_path):
    sf.write(tmp_path / "ok.wav", np.zeros(100) + 0.1, 16000)
    with pytest.raises(AudioError, match="target sample rate"):
        audio.load(tmp_path / "ok.wav", sr=0)
