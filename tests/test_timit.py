"""TIMIT loader: a hand-written NIST SPHERE file, .PHN parsing and errors, the 61->39 folding,
frame labels against a slow reference, splits (SA, core test set) and bad layouts."""

import numpy as np
import pytest
import soundfile as sf

from tdnn import audio
from tdnn.data import timit
from tdnn.errors import LayoutError
from tdnn.features import Frontend, FrontendConfig

SR = 16000


def write_sphere(path, samples: np.ndarray, rate=SR):
    """A NIST SPHERE file as TIMIT ships it: 1024-byte ASCII header, little-endian int16 PCM."""
    fields = (f"NIST_1A\n   1024\ndatabase_id -s5 TIMIT\nsample_count -i {len(samples)}\n"
              f"sample_rate -i {rate}\nchannel_count -i 1\nsample_n_bytes -i 2\n"
              "sample_sig_bits -i 16\nsample_coding -s3 pcm\nsample_byte_format -s2 01\n"
              "end_head\n")
    header = fields.encode("ascii").ljust(1024, b" ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + samples.astype("<i2").tobytes())


def write_phn(path, segments):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{s} {e} {p}\n" for s, e, p in segments))


SEGMENTS = [(0, 2000, "h#"), (2000, 3600, "sh"), (3600, 5200, "ix"), (5200, 5500, "q"),
            (5500, 7000, "hv"), (7000, 7300, "dcl"), (7300, 8000, "d"), (8000, 9600, "h#")]


def test_sphere_header_written_by_hand_loads(tmp_path):
    samples = (np.sin(np.arange(4000) / 7) * 12000).astype(np.int16)
    path = tmp_path / "SX1.WAV"
    write_sphere(path, samples)
    info = sf.info(path)
    assert info.format == "NIST" and info.samplerate == SR and info.frames == 4000
    assert np.array_equal(audio.load(path), samples.astype(np.float32) / 32768)


def test_read_phn(tmp_path):
    write_phn(tmp_path / "a.PHN", SEGMENTS)
    assert timit.read_phn(tmp_path / "a.PHN") == SEGMENTS


@pytest.mark.parametrize("line, match", [("0 100", "start end phone"),
                                         ("100 50 iy", "start end phone"),
                                         ("0 100 zz", "unknown phone 'zz'")])
def test_read_phn_errors_name_file_and_line(tmp_path, line, match):
    (tmp_path / "b.PHN").write_text(f"0 10 h#\n{line}\n")
    with pytest.raises(LayoutError, match=rf"b\.PHN:2: .*{match}"):
        timit.read_phn(tmp_path / "b.PHN")


def test_phone_sets_and_lee_hon_folding():
    assert len(timit.PHONES_61) == len(set(timit.PHONES_61)) == 61
    assert len(timit.PHONES_39) == 39
    assert set(timit.FOLD_39) == set(timit.PHONES_61) - {"q"}
    # Lee & Hon (1989) merges, written out by hand.
    groups = [{"aa", "ao"}, {"ah", "ax", "ax-h"}, {"er", "axr"}, {"hh", "hv"}, {"ih", "ix"},
              {"l", "el"}, {"m", "em"}, {"n", "en", "nx"}, {"ng", "eng"}, {"sh", "zh"},
              {"uw", "ux"}, {"pcl", "tcl", "kcl", "bcl", "dcl", "gcl", "h#", "pau", "epi"}]
    for group in groups:
        assert len({timit.FOLD_39[p] for p in group}) == 1
    merged = set().union(*groups)
    for phone in set(timit.FOLD_39) - merged:
        assert timit.FOLD_39[phone] == phone
    assert timit.FOLD_39["h#"] == "sil"


def slow_labels(segments, n_frames, hop, phones, fold):
    """Reference: scan the segments for the one covering each frame's sample."""
    out = []
    for i in range(n_frames):
        sample = i * hop
        covering = [p for s, e, p in segments if s <= sample < e]
        label = covering[0] if covering else segments[-1][2]
        out.append(label)
    if fold:
        fixed = []
        for label in out:
            fixed.append(fixed[-1] if label == "q" else timit.FOLD_39[label])
        out = fixed
    return np.array([phones.index(p) for p in out])


@pytest.mark.parametrize("fold", [False, True])
def test_frame_labels_match_the_covering_phone(fold):
    frontend = Frontend(FrontendConfig(kind="logmel"))
    n_frames = frontend.num_frames(9600)
    labels = timit.frame_labels(SEGMENTS, n_frames, frontend.hop_length, fold=fold)
    phones = timit.PHONES_39 if fold else timit.PHONES_61
    expected = slow_labels(SEGMENTS, n_frames, frontend.hop_length, phones, fold)
    assert labels.dtype == np.int64 and len(labels) == n_frames == 61
    assert np.array_equal(labels, expected)
    # frames 13..22 (samples 2080..3520) lie inside `sh` (samples 2000..3599): all carry its label
    assert set(labels[13:23].tolist()) == {phones.index("sh")}


def test_q_merges_into_previous_phone_or_next_at_start():
    assert timit.fold_segments([(0, 10, "h#"), (10, 20, "q"), (20, 30, "iy")]) == \
        [(0, 20, "sil"), (20, 30, "iy")]
    assert timit.fold_segments([(0, 10, "q"), (10, 20, "ix")]) == [(0, 20, "ih")]


def test_frame_labels_past_the_last_segment_keep_its_label():
    labels = timit.frame_labels([(0, 160, "h#"), (160, 320, "iy")], 5, 160, fold=False)
    assert labels.tolist() == [timit.PHONES_61.index(p) for p in ["h#", "iy", "iy", "iy", "iy"]]


def make_timit(root, upper=True):
    """TRAIN: one speaker with SA1 and SX1; TEST: a core-test speaker and a non-core one."""
    case = str.upper if upper else str.lower
    rng = np.random.default_rng(0)
    for split, dr, spk, utts in [("train", "dr1", "fcjf0", ["sa1", "sx1"]),
                                 ("test", "dr1", "mdab0", ["si1"]),
                                 ("test", "dr2", "mzzz0", ["sx9"])]:
        folder = root / case(split) / case(dr) / case(spk)
        for utt in utts:
            write_sphere(folder / (case(utt) + (".WAV" if upper else ".wav")),
                         (rng.standard_normal(9600) * 1000).astype(np.int16))
            write_phn(folder / (case(utt) + (".PHN" if upper else ".phn")), SEGMENTS)
    return root


@pytest.mark.parametrize("upper", [True, False])
def test_load_utterances_splits(tmp_path, upper):
    root = make_timit(tmp_path / "timit", upper)
    train = timit.load_utterances(root, "train")
    assert [u.wav.stem.lower() for u in train] == ["sx1"]
    assert len(timit.load_utterances(root, "train", include_sa=True)) == 2
    assert [u.speaker for u in timit.load_utterances(root, "test")] == ["mdab0", "mzzz0"]
    core = timit.load_utterances(root, "core")
    assert [u.speaker for u in core] == ["mdab0"]
    utt = train[0]
    assert utt.segments == SEGMENTS and utt.phn.with_suffix("").name == utt.wav.with_suffix("").name
    assert len(audio.load(utt.wav)) == 9600


def test_bad_layouts(tmp_path):
    with pytest.raises(LayoutError, match="not found"):
        timit.load_utterances(tmp_path / "absent")
    (tmp_path / "c" / "TEST").mkdir(parents=True)
    with pytest.raises(LayoutError, match="no TRAIN folder.*ROOT/TRAIN/<DR>/<SPEAKER>"):
        timit.load_utterances(tmp_path / "c", "train")
    with pytest.raises(LayoutError, match="no .PHN files"):
        timit.load_utterances(tmp_path / "c", "test")
    write_phn(tmp_path / "c" / "TEST" / "DR1" / "MABC0" / "SX2.PHN", SEGMENTS)
    with pytest.raises(LayoutError, match=r"SX2\.WAV: audio for SX2\.PHN not found"):
        timit.load_utterances(tmp_path / "c", "test")
