"""A synthetic utterance: waveform, log-mel frames and the generator's phone boundaries.

eSpeak NG speaks a sentence and reports every phoneme with exact sample positions;
`data_prep.synth_phones.timit_segments` turns them into TIMIT-61 phone segments (stop closures
found in the audio), `tdnn.features.Frontend` makes the frames, and `tdnn.data.timit.frame_labels`
labels each frame. The figure puts all three on one time axis; the script checks that the
segments tile the audio, that the frame count follows the framing rule, and that the
boundaries sit where the sound changes (closures are quieter than vowels).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import soxr

from _common import check, parse_args, save
from data_prep import espeak
from data_prep.synth_phones import timit_segments, word_segments
from tdnn.data.timit import PHONES_39, frame_labels
from tdnn.features import Frontend, FrontendConfig

TEXT = "the quick brown fox jumps over the lazy dog"
SR = 16000
VOWELS = {"iy", "ih", "eh", "ae", "aa", "ah", "ao", "uh", "uw", "er", "ey", "ay", "oy", "aw",
          "ow", "ax", "ix", "axr"}
CLOSURES = {"pcl", "tcl", "kcl", "bcl", "dcl", "gcl"}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    syn = espeak.synthesize(TEXT, "en-us", rate=150)
    wave = soxr.resample(syn.wave, syn.sample_rate, SR)
    segs = timit_segments(syn, wave, SR)
    words = word_segments(syn, TEXT, segs, SR)
    frontend = Frontend(FrontendConfig(kind="logmel"))
    feats = frontend.extract(wave.astype(np.float32))          # [L, D]
    hop = frontend.hop_length
    labels = frame_labels([(s.start, s.end, s.label) for s in segs], len(feats), hop)

    tiles = segs[0].start == 0 and segs[-1].end == len(wave) and all(
        a.end == b.start for a, b in zip(segs, segs[1:]))
    check("phone segments tile the waveform with no gap or overlap", tiles,
          f"{len(segs)} segments over {len(wave)} samples")
    check("frames follow the framing rule L = 1 + T // hop",
          len(feats) == 1 + len(wave) // hop == frontend.num_frames(len(wave)), f"L={len(feats)}")
    check("one 39-phone label per frame", len(labels) == len(feats),
          f"{len(set(labels.tolist()))} distinct phones")
    energy = feats.mean(1)

    def mean_energy(kinds: set[str]) -> float:
        rows = [energy[s.start // hop:max(s.start // hop + 1, s.end // hop)]
                for s in segs if s.label in kinds]
        return float(np.concatenate(rows).mean())

    vowel_db, closure_db = mean_energy(VOWELS), mean_energy(CLOSURES)
    check("stop closures are quieter than vowels (boundaries sit where the sound changes)",
          closure_db + 10 < vowel_db, f"{closure_db:.1f} dB vs {vowel_db:.1f} dB")

    t = np.arange(len(wave)) / SR
    fig, axes = plt.subplots(3, 1, figsize=(14, 7), sharex=True,
                             gridspec_kw={"height_ratios": [1, 2, 0.6]})
    axes[0].plot(t, wave, lw=0.4, c="k")
    axes[0].set(title=f'"{TEXT}" (eSpeak NG en-us)', ylabel="waveform")
    axes[1].imshow(feats.T, origin="lower", aspect="auto", cmap="magma",
                   extent=(-0.5 * hop / SR, (len(feats) - 0.5) * hop / SR, 0, feats.shape[1]))
    axes[1].set(ylabel="log-mel band")
    for i, s in enumerate(segs):
        for ax in axes[:2]:
            ax.axvline(s.start / SR, c="C0" if ax is axes[0] else "w", lw=0.5)
        axes[1].text((s.start + s.end) / 2 / SR, feats.shape[1] - 3 - 4 * (i % 2), s.label,
                     c="w", ha="center", fontsize=7)
    axes[2].step(np.arange(len(labels)) * hop / SR, labels, where="mid", lw=0.8)
    axes[2].set(ylabel="frame label\n(39-phone index)", xlabel="time (s)",
                ylim=(-1, len(PHONES_39)))
    for w in words:
        axes[0].text((w.start + w.end) / 2 / SR, 0.9 * np.abs(wave).max(), w.label,
                     ha="center", fontsize=8)
    save(fig, args.out, "synthetic_utterance")


if __name__ == "__main__":
    main()
