"""Speech Commands loader: the hashing split against the official split lists, list files, 12/35-class
composition, partial folders, archives, background noise, ClipDataset, and bad layouts."""

import math
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tdnn.data import speech_commands as sc
from tdnn.errors import LayoutError

SR = 16000
KNOWN_SPLITS = Path(__file__).parent / "data" / "speech_commands_splits.txt"


def known_splits() -> list[tuple[str, str]]:
    """(file, split) pairs from the official Speech Commands lists (see the data file's header)."""
    rows = [line.split() for line in KNOWN_SPLITS.read_text().splitlines()
            if line and not line.startswith("#")]
    return [(path, split) for path, split in rows]


def speakers_per_split(n_each: int) -> dict[str, list[str]]:
    """n_each speaker ids of each split, taken from the known answers."""
    found = {"training": [], "validation": [], "testing": []}
    for path, split in known_splits():
        if len(found[split]) < n_each:
            found[split].append(Path(path).name.split("_nohash_")[0])
    return found


def write_clip(path, n=SR // 2, value=0.1):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(n, value, dtype=np.float32), SR, subtype="PCM_16")


def make_corpus(root, words, speakers):
    """One clip per (word, speaker) in ROOT/<word>/<speaker>_nohash_0.wav."""
    for word in words:
        for spk in speakers:
            write_clip(root / word / f"{spk}_nohash_0.wav")
    return root


@pytest.fixture(scope="module")
def split_speakers():
    return speakers_per_split(4)


@pytest.fixture
def corpus(tmp_path, split_speakers):
    speakers = sum(split_speakers.values(), [])
    return make_corpus(tmp_path / "sc", ["yes", "no", "up", "bed", "cat", "dog", "wow"], speakers)


def test_which_set_matches_the_official_lists():
    for path, split in known_splits():
        assert sc.which_set(path) == split, path
        speaker = Path(path).name.split("_nohash_")[0]
        assert sc.which_set(f"/x/go/{speaker}_nohash_7.wav") == split  # only the speaker counts


def test_which_set_percentages_move_the_boundaries():
    names = [f"spk{i}" for i in range(200)]
    assert {sc.which_set(f"{n}_nohash_0.wav", 0, 0) for n in names} == {"training"}
    assert {sc.which_set(f"{n}_nohash_0.wav", 100, 0) for n in names} == {"validation"}
    # The rule compares one hash percentage with the cumulative bounds, so widening validation to
    # 30% moves every official validation (< 10%) and testing (10-20%) file into validation.
    for path, split in known_splits():
        if split != "training":
            assert sc.which_set(path, 30, 20) == "validation", path


def test_labels_for_task():
    assert sc.labels_for_task(12) == ["_silence_", "_unknown_", "yes", "no", "up", "down", "left",
                                      "right", "on", "off", "stop", "go"]
    assert len(sc.labels_for_task(35)) == len(set(sc.labels_for_task(35))) == 35
    assert set(sc.WORDS_10) <= set(sc.WORDS_35)
    with pytest.raises(ValueError):
        sc.labels_for_task(30)


def test_hash_fallback_splits_by_speaker(corpus, split_speakers):
    names = {"train": "training", "validation": "validation", "test": "testing"}
    for split, tf_name in names.items():
        examples = sc.load_examples(corpus, split, task=35)
        speakers = {ex.path.name.split("_nohash_")[0] for ex in examples}
        assert speakers == set(split_speakers[tf_name])
        assert Counter(ex.label for ex in examples) == Counter(
            {w: 4 for w in ["yes", "no", "up", "bed", "cat", "dog", "wow"]})


def test_twelve_class_composition(corpus):
    examples = sc.load_examples(corpus, "train", task=12, silence_percentage=25,
                                unknown_percentage=50)
    counts = Counter(ex.label for ex in examples)
    n_known = 3 * 4  # yes, no, up x 4 training speakers
    assert counts["yes"] == counts["no"] == counts["up"] == 4
    assert counts["_silence_"] == math.ceil(n_known * 25 / 100) == 3
    assert counts["_unknown_"] == math.ceil(n_known * 50 / 100) == 6
    assert set(counts) <= set(sc.labels_for_task(12))
    assert all(ex.path is None for ex in examples if ex.label == "_silence_")
    unknown_words = {ex.path.parent.name for ex in examples if ex.label == "_unknown_"}
    assert unknown_words <= {"bed", "cat", "dog", "wow"}


def test_twelve_class_is_deterministic_and_seeded(corpus):
    def unknowns(seed):
        examples = sc.load_examples(corpus, "train", seed=seed, unknown_percentage=25)
        return [ex.path for ex in examples if ex.label == "_unknown_"]
    assert unknowns(0) == unknowns(0)
    assert any(set(unknowns(0)) != set(unknowns(s)) for s in range(1, 6))


def test_unknown_percentage_none_keeps_every_other_word(corpus):
    examples = sc.load_examples(corpus, "all", unknown_percentage=None, silence_percentage=0)
    counts = Counter(ex.label for ex in examples)
    assert counts["_unknown_"] == 4 * 12 and "_silence_" not in counts


def test_list_files_override_hashing(corpus, split_speakers):
    moved = f"bed/{split_speakers['training'][0]}_nohash_0.wav"
    (corpus / "validation_list.txt").write_text(moved + "\n")
    (corpus / "testing_list.txt").write_text("")
    assert sc.has_split_lists(corpus)
    val = sc.load_examples(corpus, "validation", task=35)
    assert [str(ex.path.relative_to(corpus)) for ex in val] == [moved]
    assert len(sc.load_examples(corpus, "train", task=35)) == 7 * 12 - 1
    with pytest.raises(LayoutError, match="split 'test'"):
        sc.load_examples(corpus, "test", task=35)


def test_one_list_file_alone_is_a_layout_error(corpus):
    (corpus / "validation_list.txt").write_text("")
    with pytest.raises(LayoutError, match="testing_list.txt"):
        sc.load_examples(corpus, "train")


def test_partial_folder_counts_other_words_as_unknown(tmp_path):
    root = make_corpus(tmp_path / "part", ["no", "bed"], ["a1", "b2"])
    write_clip(root / "_background_noise_" / "hum.wav", SR * 2)
    twelve = sc.load_examples(root, "all", unknown_percentage=None, silence_percentage=0)
    assert Counter(ex.label for ex in twelve) == {"no": 2, "_unknown_": 2}
    thirty_five = sc.load_examples(root, "all", task=35)
    assert Counter(ex.label for ex in thirty_five) == {"no": 2, "bed": 2}


def test_released_test_set_folders(tmp_path):
    root = make_corpus(tmp_path / "ts", ["yes", "_silence_", "_unknown_"], ["a1", "b2"])
    examples = sc.load_examples(root, "all")
    assert Counter(ex.label for ex in examples) == {"yes": 2, "_silence_": 2, "_unknown_": 2}
    assert all(ex.path is not None for ex in examples)


def test_thirty_five_class_skips_non_command_folders(corpus):
    (corpus / "notaword").mkdir()
    write_clip(corpus / "notaword" / "spk0_nohash_0.wav")
    labels = {ex.label for ex in sc.load_examples(corpus, "all", task=35)}
    assert labels == {"yes", "no", "up", "bed", "cat", "dog", "wow"}


def test_tar_gz_matches_folder(corpus, tmp_path):
    archive = tmp_path / "speech_commands_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in corpus.rglob("*"):
            tar.add(path, arcname=str(path.relative_to(corpus)), recursive=False)
    with pytest.raises(LayoutError, match="cache"):
        sc.load_examples(archive)
    from_tar = sc.load_examples(archive, "all", cache_dir=tmp_path / "cache")
    from_dir = sc.load_examples(corpus, "all")
    rel = lambda exs: [(ex.path and ex.path.name, ex.label) for ex in exs]  # noqa: E731
    assert rel(from_tar) == rel(from_dir)
    assert sc.load_examples(archive, "all", cache_dir=tmp_path / "cache") == from_tar


def test_bad_layouts_name_what_is_missing(tmp_path):
    with pytest.raises(LayoutError, match="not found"):
        sc.load_examples(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match=r"<word>/<speaker>_nohash_<n>\.wav"):
        sc.load_examples(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(LayoutError, match="tar.gz"):
        sc.load_examples(tmp_path / "file.txt")


def test_background_noise(tmp_path):
    assert sc.load_background_noise(tmp_path) == []
    (tmp_path / "_background_noise_").mkdir()
    with pytest.raises(LayoutError, match="no .wav"):
        sc.load_background_noise(tmp_path)
    write_clip(tmp_path / "_background_noise_" / "a.wav", 3 * SR, 0.25)
    write_clip(tmp_path / "_background_noise_" / "b.wav", SR, -0.5)
    noises = sc.load_background_noise(tmp_path)
    assert [len(n) for n in noises] == [3 * SR, SR]
    assert np.allclose(noises[0], 0.25, atol=1e-4) and np.allclose(noises[1], -0.5, atol=1e-4)


def test_clip_dataset_pads_labels_and_silence(tmp_path):
    write_clip(tmp_path / "yes" / "a_nohash_0.wav", SR // 2, 0.5)
    examples = [sc.Example(tmp_path / "yes" / "a_nohash_0.wav", "yes"),
                sc.Example(tmp_path / "bed" / "a_nohash_0.wav", "_unknown_"),
                sc.Example(None, "_silence_")]
    labels = sc.labels_for_task(12)
    ds = sc.ClipDataset(examples, labels)
    wave, target = ds[0]
    assert wave.shape == (SR,) and target == labels.index("yes")
    assert np.allclose(wave[:SR // 2].numpy(), 0.5, atol=1e-4) and not wave[SR // 2:].any()
    assert ds.targets == [2, 1, 0]
    silence, target = ds[2]
    assert target == 0 and not silence.any()


def test_clip_dataset_silence_is_a_scaled_noise_slice():
    ramp = np.arange(3 * SR, dtype=np.float32) / (3 * SR)
    ds = sc.ClipDataset([sc.Example(None, "_silence_")] * 4, sc.labels_for_task(12),
                        noises=[ramp], seed=3)
    for i in range(4):
        wave = ds[i][0].numpy().astype(np.float64)
        volume = (wave[-1] - wave[0]) / (SR - 1) * 3 * SR
        start = int(round(wave[0] / volume * 3 * SR))
        assert 0 < volume < 1 and 0 <= start <= 2 * SR
        assert np.allclose(wave, volume * ramp[start:start + SR], atol=1e-6)
    again = sc.ClipDataset([sc.Example(None, "_silence_")] * 4, sc.labels_for_task(12),
                           noises=[ramp], seed=3)
    assert np.array_equal(ds[1][0], again[1][0])
    ds.set_epoch(1)
    assert not np.array_equal(ds[1][0], again[1][0])


def test_clip_dataset_rejects_unknown_label_without_unknown_class():
    with pytest.raises(ValueError, match="bird"):
        sc.ClipDataset([sc.Example(None, "bird")], ["yes", "no"])
