"""The pooling ablation: does max-pooling in time blur phonetic timing?

Variants of one TDNN share every weight shape (pooling and strides add no parameters), so they
are matched in parameter count by construction; the 2D-CNN baseline is scaled to the same count.
Variant names:
    none                    the reference: no pooling, stride 1
    none-rf<N>              the reference with its 3-tap layers dilated to an N-frame receptive
                            field (same parameters): the matched-field control of a pooled
                            variant, added for every variant whose field differs from none's
    bag                     order-blind control: every context {0} (1-frame field) and mean
                            statistics, so it sees a bag of frames (clip tasks)
    max<w>-early[-dec]      max-pooling of width w after each `early` layer (default the first
                            two); '-dec' pools with stride w (decimating), else stride 1
    max<w>-late[-dec]       the same after each `late` layer (default the last two)
    avg<w>-early[-dec]      average pooling instead of max (also -late)
    stride<s>-early         no pooling; the early layers themselves have stride s (fewer frames
                            without a max: separates "decimation" from "max over frames")
    cnn2d                   the image-style 2D CNN preset (2x2 max-pooling in time and frequency)
    <any>-rep               on the frame task, the repeating frame head (each output S times)
                            instead of the default learned one (S labels per output frame)
Each (task, variant, corpus seed, seed) trains a fresh model on cached features (`tdnn.train.fit`), then
evaluates it and runs the timing probes; `run` writes the results table, plots and raw records.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import framemetrics
from ..errors import ConfigError
from ..config import TrainConfig, features_config
from ..train import fit
from ..train_data import FeatureData, predict_features
from ..models import LayerSpec, ModelConfig, build_model, preset_config, summary
from . import anagrams, plots, probes, table

VARIANT_RE = re.compile(r"^(?:(none)(?:-rf(\d+))?|(bag)|(cnn2d)|(max|avg)(\d+)-(early|late)(-dec)?"
                        r"|stride(\d+)-(early|late))(-rep)?$")

PERCENT_METRICS = ("accuracy", "set_accuracy", "frame_accuracy", "frame_accuracy_short", "per",
                   "per_smooth", "boundary_f1@1", "boundary_f1@2", "boundary_f1@3",
                   "boundary_f1@2_smooth", "ceiling_frame_accuracy", "ceiling_boundary_f1@1",
                   *(f"jitter_{kind}@{k}" for kind in ("changed", "follow", "accuracy")
                     for k in range(1, 9)))
SMOOTH = 5  # frames of posterior averaging for the *_smooth frame metrics
CEILINGS = ("ceiling_frame_accuracy", "ceiling_boundary_f1@1")  # bounds, not tested


@dataclass(frozen=True)
class Variant:
    """One ablation variant, parsed from its name (see the module docstring)."""
    name: str
    pool: str | None = None
    width: int = 1
    where: str | None = None
    decimate: bool = False
    stride: int = 1
    arch: str = "tdnn"
    field: int | None = None    # none-rf<N>: the receptive field to dilate to
    upsample: str = "learned"   # frame head: 'learned' or 'repeat' (-rep)


def parse_variant(name: str) -> Variant:
    """The Variant a name like 'max3-early', 'avg2-late-dec', 'none-rf21' or 'bag' describes."""
    m = VARIANT_RE.match(name)
    if not m:
        raise ConfigError(f"ablation variant {name!r}: use none, none-rf<N>, bag, cnn2d, "
                          "max<w>-early|late[-dec], avg<w>-early|late[-dec] or "
                          "stride<s>-early|late, optionally ending in -rep")
    up = {"upsample": "repeat"} if m.group(11) else {}
    if m.group(1):
        return Variant(name, field=int(m.group(2)) if m.group(2) else None, **up)
    if m.group(3):
        return Variant(name, arch="bag", **up)
    if m.group(4):
        return Variant(name, arch="cnn2d", **up)
    if m.group(5):
        width = int(m.group(6))
        if width < 2:
            raise ConfigError(f"ablation variant {name!r}: pooling width must be 2 or more")
        return Variant(name, pool=m.group(5), width=width, where=m.group(7),
                       decimate=bool(m.group(8)), **up)
    stride = int(m.group(9))
    if stride < 2:
        raise ConfigError(f"ablation variant {name!r}: stride must be 2 or more")
    return Variant(name, where=m.group(10), stride=stride, **up)


def field_of(contexts: list[list[int]]) -> int:
    """Receptive field (frames) of stride-1 TDNN layers with these contexts."""
    return 1 + sum(max(c) - min(c) for c in contexts)


def widen_contexts(contexts: list[list[int]], field: int) -> list[list[int]]:
    """The same layers, offsets per layer unchanged in number, dilated to a `field`-frame field.

    Symmetric 3-tap layers {-d, 0, d} grow by one dilation step in turn, last first (+2 frames
    each); an odd remainder moves the first multi-tap layer's last offset out by one.
    """
    out = [list(c) for c in contexts]
    extra = field - field_of(out)
    taps = [i for i, c in enumerate(out) if len(c) == 3 and c[0] == -c[2] and c[1] == 0]
    if extra < 0 or (extra > 1 and not taps):
        raise ConfigError(f"none-rf{field}: cannot dilate contexts {contexts} (field "
                          f"{field_of(contexts)}) to {field} frames")
    k = 0
    while extra >= 2:
        i = taps[::-1][k % len(taps)]
        d = out[i][2] + 1
        out[i] = [-d, 0, d]
        extra -= 2
        k += 1
    if extra:
        first = next(c for c in out if len(c) > 1)
        first[-1] += 1
    return out


def tdnn_layers(variant: Variant, dim: int, contexts: list[list[int]], early: list[int],
                late: list[int]) -> list[LayerSpec]:
    """The layer list of a TDNN variant: `dim` units per layer, pooling/strides at its positions."""
    where = set(early if variant.where == "early" else late if variant.where == "late" else [])
    bad = [i for i in where if not 0 <= i < len(contexts)]
    if bad:
        raise ConfigError(f"ablation early/late layer index {bad[0]} is outside the "
                          f"{len(contexts)} layers")
    layers = []
    for i, ctx in enumerate(contexts):
        spec = LayerSpec(dim, list(ctx))
        if i in where and variant.pool:
            spec.pool, spec.pool_width = variant.pool, variant.width
            spec.pool_stride = variant.width if variant.decimate else 1
        if i in where and variant.stride > 1:
            spec.stride = variant.stride
        layers.append(spec)
    return layers


def n_params(cfg: ModelConfig, in_dim: int, n_classes: int) -> int:
    """Parameters of the model a config builds."""
    return sum(p.numel() for p in build_model(cfg, in_dim, n_classes).parameters())


def cnn2d_config(head: str, in_dim: int, n_classes: int, target: int,
                 upsample: str = "repeat") -> ModelConfig:
    """The 'cnn2d' preset with its channel counts scaled so its parameters (frame head with
    `upsample` included) come closest to `target`."""
    base = preset_config("cnn2d")
    best, best_gap = None, None
    for scale in np.arange(0.1, 3.0, 0.02):
        layers = [dataclasses.replace(s, dim=max(1, int(round(s.dim * scale)))) for s in base.layers]
        cfg = dataclasses.replace(base, layers=layers, head=head, dropout=0.0, upsample=upsample)
        try:
            gap = abs(n_params(cfg, in_dim, n_classes) - target)
        except ConfigError:
            continue
        if best_gap is None or gap < best_gap:
            best, best_gap = cfg, gap
    if best is None:
        raise ConfigError(f"cnn2d: no channel scaling builds for {in_dim} features per frame")
    return best


def model_config(variant: Variant, head: str, in_dim: int, n_classes: int, dim: int,
                 contexts: list[list[int]], early: list[int], late: list[int]) -> ModelConfig:
    """The ModelConfig of one variant on one task (cnn2d matched to the reference's parameters)."""
    if variant.arch == "cnn2d":
        ref = model_config(Variant("none"), head, in_dim, n_classes, dim, contexts, early, late)
        return cnn2d_config(head, in_dim, n_classes, n_params(ref, in_dim, n_classes),
                            variant.upsample)
    stats = "meanstd"
    if variant.arch == "bag":
        if head == "frame":
            raise ConfigError("ablation variant 'bag' is order-blind by pooling a clip; "
                              "use it on clip tasks only")
        contexts, stats = [[0] for _ in contexts], "mean"
    elif variant.field is not None:
        contexts = widen_contexts(contexts, variant.field)
    return ModelConfig(layers=tdnn_layers(variant, dim, contexts, early, late), head=head,
                       stats=stats, dropout=0.0, upsample=variant.upsample)


DEFAULT_VARIANTS = ["none", "bag", "max2-early", "max4-early", "max6-early", "max8-early",
                    "max10-early", "max2-late", "max4-late", "max2-early-dec", "max3-early-dec",
                    "avg2-early-dec", "avg3-early-dec", "stride2-early", "stride3-early", "cnn2d",
                    "max2-early-dec-rep", "stride2-early-rep"]
KWS_VARIANTS = ["none", "bag", "max2-early", "max4-early", "max2-early-dec", "avg2-early-dec",
                "stride2-early"]
STRESS_TASKS = ("pairs-fewvoices", "pairs-shortctx", "pairs-kokoro")
KOKORO_PAIRS = "pairs-kokoro"  # corpus (and task): the anagram words in Kokoro voices, test only
STRESS_VARIANTS = ["none", "bag", "max2-early", "max4-early", "max2-early-dec", "stride2-early"]
PERCENT_MARGIN = 0.01   # TOST equivalence margin of the % metrics: ±1 point


@dataclass
class AblationConfig:
    """Everything `tdnn ablate` runs; every field can be set in config.toml or with --set k=v."""
    tasks: list[str] = field(default_factory=lambda: ["pairs", "kws12", "phones", "bdg",
                                                      "pairs-fewvoices", "pairs-shortctx"])
    variants: list[str] = field(default_factory=lambda: list(DEFAULT_VARIANTS))
    kws_variants: list[str] = field(default_factory=lambda: list(KWS_VARIANTS))
    stress_variants: list[str] = field(default_factory=lambda: list(STRESS_VARIANTS))
    matched_controls: bool = True               # add none-rf<N> for each variant's field N
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    data_seeds: list[int] = field(default_factory=lambda: [0, 1])  # one corpus per seed
    dim: int = 48                               # units per TDNN layer
    contexts: list[list[int]] = field(default_factory=lambda: [[-2, -1, 0, 1, 2], [-2, 0, 2],
                                                               [-3, 0, 3], [0]])
    short_contexts: list[list[int]] = field(default_factory=lambda: [[-1, 0, 1], [-1, 0, 1], [0],
                                                                     [0]])
    early: list[int] = field(default_factory=lambda: [0, 1])
    late: list[int] = field(default_factory=lambda: [2, 3])
    n_mels: int = 40
    snrs: list[float] = field(default_factory=lambda: [20.0, 10.0, 5.0, 0.0])
    jitter_shifts: list[int] = field(default_factory=lambda: [-4, -3, -2, -1, 0, 1, 2, 3, 4])
    short_phone: int = 4                        # frames: phones this short or shorter are 'short'
    data_dir: str | None = None                 # corpora: built here when missing (default OUT/data)
    test_accents: list[str] = field(default_factory=lambda: ["en-gb-scotland", "en-029"])
    test_variant_every: int = 4                 # every 4th voice variant (from the 2nd) is test-only
    pairs_speakers: int = 80
    few_voices: int = 12                        # training speakers of pairs-fewvoices
    kws_speakers: int = 60
    phones_speakers: int = 40
    phones_sentences: int = 8
    bdg_speakers: int = 60
    bdg_mels: int = 16                          # Waibel: 16 mel coefficients x 15 frames
    kokoro_voices: list[str] = field(default_factory=list)  # pairs-kokoro test ([] = all 28)
    pairs_fit: TrainConfig = field(default_factory=lambda: features_config(epochs=8))
    kws_fit: TrainConfig = field(default_factory=lambda: features_config(epochs=8))
    phones_fit: TrainConfig = field(default_factory=lambda: features_config(epochs=12, batch_size=16))
    bdg_fit: TrainConfig = field(default_factory=lambda: features_config(epochs=15, batch_size=64))
    threads: int = 1


QUICK = {"tasks": ["pairs", "phones", "bdg"],
         "variants": ["none", "bag", "max3-early", "max2-early-dec", "stride2-early",
                      "max2-early-dec-rep"],
         "kws_variants": ["none", "max3-early"], "stress_variants": ["none", "max3-early"],
         "seeds": [0, 1], "data_seeds": [0], "dim": 24, "pairs_speakers": 24,
         "phones_speakers": 10, "phones_sentences": 3, "bdg_speakers": 16, "snrs": [10.0],
         "jitter_shifts": [0, 2], "pairs_fit": {"epochs": 2},
         "phones_fit": {"epochs": 2, "batch_size": 8}, "bdg_fit": {"epochs": 3}}


def holdout(cfg: AblationConfig):
    """The test-only accents and voice variants (`tasks.Holdout`) of the config."""
    from data_prep import synth_commands

    from .tasks import Holdout
    every = cfg.test_variant_every
    variants = synth_commands.all_variants()
    held = tuple(v for i, v in enumerate(variants) if every and i % every == 1)
    return Holdout(tuple(cfg.test_accents), held)


# ---------------------------------------------------------------- data

def corpus_dir(data_dir: Path, name: str, data_seed: int) -> Path:
    """Folder of one corpus: `name` for corpus seed 0 (so a real TIMIT copy linked as `phones`
    is used), `name-seed<k>` for the others."""
    if name == KOKORO_PAIRS:  # one test corpus, whatever the training corpus seed
        return data_dir / name
    return data_dir / (name if data_seed == 0 else f"{name}-seed{data_seed}")


def ensure_corpora(cfg: AblationConfig, data_dir: Path, needed: set[str], data_seed: int = 0,
                   log=print) -> int:
    """Build each synthetic corpus the tasks need (pairs, kws, phones, bdg) from `data_seed`
    whose folder is missing, empty or an interrupted build; any other non-empty folder (e.g. a
    real TIMIT copy as `phones`) is used as it is; `pairs-kokoro` (Kokoro voices, one
    corpus for every seed) needs the kokoro extra. The pairs corpus speaks the anagram sets
    (`anagrams.ANAGRAM_SETS`), checked against eSpeak's phonemes before anything is built.
    Items the synthesiser failed on are logged (file and reason); returns how many failed."""
    from data_prep import espeak, synth_commands, synth_phones, words

    from ..data import corpus
    accents = list(espeak.ENGLISH_ACCENTS)
    variants = synth_commands.all_variants()
    n_failed = 0
    for name in sorted(needed):
        out = corpus_dir(data_dir, name, data_seed)
        if out.is_dir() and any(out.iterdir()) and not corpus.interrupted(out):
            continue  # never write into an existing corpus
        t0 = time.time()
        if name == KOKORO_PAIRS:
            result = build_kokoro_pairs(out, cfg.kokoro_voices)
        elif name in ("pairs", "kws"):
            if name == "pairs":
                anagrams.check(anagrams.ANAGRAM_SETS, accents)
            word_list = (anagrams.words() if name == "pairs"
                         else list(words.COMMANDS_10) + list(words.UNKNOWN_EXTRA[:10]))
            n = cfg.pairs_speakers if name == "pairs" else cfg.kws_speakers
            speakers = synth_commands.make_speakers(n, data_seed, accents, variants)
            result = synth_commands.build(out, speakers, word_list, seed=data_seed, jobs=1,
                                          noise_seconds=30.0, progress=False)
        elif name == "phones":
            result = synth_phones.build_timit(out, cfg.phones_speakers, cfg.phones_sentences,
                                              seed=data_seed, accents=accents,
                                              variants=variants, test_fraction=0.25, jobs=1,
                                              progress=False)
        else:
            result = synth_phones.build_bdg(out, cfg.bdg_speakers, seed=data_seed,
                                            accents=accents, variants=variants, jobs=1,
                                            progress=False)
        failures = result.get("failures", [])
        for item, reason in failures:
            log(f"failed: {out / item}: {reason}")
        n_failed += len(failures)
        log(f"built {out} in {time.time() - t0:.0f} s ({len(failures)} failed items)")
    return n_failed


def build_kokoro_pairs(out: Path, voices: list[str]) -> dict:
    """The anagram words spoken once by each Kokoro voice (default: all 28 English voices),
    test-only speakers for pairs-kokoro; needs the `kokoro` extra (docs/voices.md)."""
    from data_prep import engines, tts_cache, tts_commands
    kokoro = engines.load("kokoro")
    speakers = [tts_commands.Speaker("kokoro", v, "custom") for v in voices or kokoro.voices()]
    return tts_commands.build_takes(out, {"kokoro": kokoro}, speakers, 1, anagrams.words(), {},
                                    tts_cache.root(), jobs=1, split="train", noise_seconds=0,
                                    progress=False)


CORPUS_OF = {"kws12": "kws", "phones": "phones", "bdg": "bdg"}  # other tasks: pairs


def corpora_of(task: str) -> set[str]:
    """The corpus folder names a task reads (pairs-kokoro: trains on pairs, tests on Kokoro)."""
    return {"pairs", KOKORO_PAIRS} if task == KOKORO_PAIRS else {CORPUS_OF.get(task, "pairs")}


def load_task(name: str, cfg: AblationConfig, data_dir: Path, data_seed: int = 0):
    """The `tasks.Task` behind a task name, on the corpus of `data_seed`, test speakers being
    those of the held-out accents and voice variants (kws12 keeps the Speech Commands split)."""
    from ..features import FrontendConfig
    from . import tasks as at
    fe = FrontendConfig(n_mels=cfg.n_mels, normalize="meanvar")
    root = corpus_dir(data_dir, CORPUS_OF.get(name, "pairs"), data_seed)
    held = holdout(cfg)
    if name in ("pairs", "pairs-shortctx", "pairs-fewvoices", KOKORO_PAIRS):
        few = cfg.few_voices if name == "pairs-fewvoices" else None
        snrs = cfg.snrs if name == "pairs" else []
        kokoro = corpus_dir(data_dir, KOKORO_PAIRS, data_seed) if name == KOKORO_PAIRS else None
        return at.clip_task(name, root, anagrams.words(), fe,
                            groups=[list(g) for g in anagrams.ANAGRAM_SETS], snrs=snrs,
                            max_train_speakers=few, probe_phones=name == "pairs",
                            seed=data_seed, holdout=held, test_root=kokoro)
    if name == "kws12":
        return at.keyword_task(name, root, fe, snrs=cfg.snrs, seed=data_seed)
    if name == "phones":
        return at.frame_task(name, root, fe, holdout=held)
    if name == "bdg":
        return at.bdg_task(name, root, FrontendConfig(n_mels=cfg.bdg_mels, normalize="meanvar"),
                           holdout=held)
    raise ConfigError(f"ablation task {name!r}: use pairs, kws12, phones, bdg, pairs-fewvoices, "
                      "pairs-shortctx or pairs-kokoro")


def fit_config(name: str, cfg: AblationConfig) -> TrainConfig:
    """Training settings of a task."""
    return {"kws12": cfg.kws_fit, "phones": cfg.phones_fit, "bdg": cfg.bdg_fit}.get(name,
                                                                                    cfg.pairs_fit)


# ---------------------------------------------------------------- one run

def by_speaker(values, speakers: list[str]) -> dict[str, list[float]]:
    """{speaker: [mean of its items' values, number of items]}, NaN items left out."""
    values = np.asarray(values, float)
    out = {}
    for spk in dict.fromkeys(speakers):
        v = values[[i for i, s in enumerate(speakers) if s == spk]]
        v = v[~np.isnan(v)]
        if len(v):
            out[spk] = [float(v.mean()), int(len(v))]
    return out


class Metrics:
    """Metric values of one run: per condition, the overall value and per-speaker values."""

    def __init__(self):
        self.values: dict[str, dict[str, float]] = {}
        self.speakers: dict[tuple[str, str], dict] = {}

    def add(self, cond: str, metric: str, value: float, speakers: dict | None = None) -> None:
        """Record one metric (and its {speaker: [value, weight]} when known)."""
        self.values.setdefault(cond, {})[metric] = float(value)
        if speakers:
            self.speakers[(cond, metric)] = speakers

    def add_items(self, cond: str, metric: str, items, speakers: list[str]) -> None:
        """Record the mean of per-item values (NaN left out) and its per-speaker means."""
        self.add(cond, metric, float(np.nanmean(items)), by_speaker(items, speakers))


def clip_metrics(model, task, shifts: list[int], out: Metrics) -> dict:
    """Clip task: accuracy (clean and each condition), within-set accuracy, jitter change and
    accuracy under jitter; returns probe extras (set confusions, jitter curves)."""
    spk = task.test_speakers
    y = task.y_test.numpy()
    logits = predict_features(model, task.x_test)
    out.add_items("clean", "accuracy", logits.argmax(1) == y, spk)
    extra: dict = {}
    if task.groups:
        out.add_items("clean", "set_accuracy", probes.set_correct(logits, y, task.groups), spk)
        extra["sets"] = probes.set_scores(logits, y, task.groups)["sets"]
    for cond, x in task.conditions.items():
        out.add_items(cond, "accuracy", predict_features(model, x).argmax(1) == y, spk)
    keep = [i for i, seg in enumerate(task.segments or []) if seg is not None]
    if keep and shifts:
        items = probes.jitter_items(model, task.x_test[keep], [task.segments[i] for i in keep],
                                    shifts, task.y_test[keep])
        kept = [spk[i] for i in keep]
        for k in sorted({abs(s) for s in shifts if s}):
            for key, name in (("changed", "jitter_changed"), ("correct", "jitter_accuracy")):
                vals = np.mean([items[s][key] for s in (k, -k) if s in items], 0)
                out.add_items("clean", f"{name}@{k}", vals, kept)
        extra["jitter"] = {str(k): {m: float(np.mean(v)) for m, v in row.items()}
                           for k, row in items.items()}
    return extra


def frame_scores(preds, refs, posts, short: int) -> dict[str, float]:
    """Frame metrics of a set of utterances: frame accuracy (all frames and frames of short
    phones), PER and boundary F1 (raw, and after averaging posteriors over SMOOTH frames)."""
    report = framemetrics.frame_report(preds, refs)
    masks = [probes.short_phone_mask(r, short) for r in refs]
    hits = np.concatenate([(p == r)[m] for p, r, m in zip(preds, refs, masks)])
    scores = {"frame_accuracy": report["frame_accuracy"], "per": report["per"],
              "frame_accuracy_short": float(hits.mean()) if len(hits) else float("nan")}
    for t in (1, 2, 3):
        scores[f"boundary_f1@{t}"] = report["boundary"][f"pm{t}"]["f1"]
    smooth = framemetrics.frame_report([framemetrics.smoothed_labels(p, SMOOTH) for p in posts],
                                       refs)
    scores["per_smooth"] = smooth["per"]
    scores["boundary_f1@2_smooth"] = smooth["boundary"]["pm2"]["f1"]
    return scores


def ceiling_scores(refs, stride: int) -> dict[str, float]:
    """The best frame accuracy and boundary F1@±1 a head that repeats each output `stride`
    times can reach (majority label per block); 1.0 for a head that can label every frame."""
    report = framemetrics.frame_report([probes.block_majority(r, stride) for r in refs], refs)
    return {"ceiling_frame_accuracy": report["frame_accuracy"],
            "ceiling_boundary_f1@1": report["boundary"]["pm1"]["f1"]}


def frame_metrics(model, task, shifts: list[int], short: int, out: Metrics) -> dict:
    """Frame task: `frame_scores` overall and per test speaker, the repeat-head ceiling, boundary
    blur, and jitter change / follow; returns probe extras (boundary curves, jitter curves)."""
    spk = task.test_speakers
    logits = predict_features(model, task.x_test)
    preds = [lg.argmax(0) for lg in logits]
    refs = [y.numpy() for y in task.y_test]
    posts = [torch.from_numpy(lg).softmax(0).numpy() for lg in logits]
    per_spk = {}
    for s in dict.fromkeys(spk):
        idx = [i for i, x in enumerate(spk) if x == s]
        weight = int(sum(len(refs[i]) for i in idx))
        scores = frame_scores([preds[i] for i in idx], [refs[i] for i in idx],
                              [posts[i] for i in idx], short)
        for metric, v in scores.items():
            if v == v:
                per_spk.setdefault(metric, {})[s] = [v, weight]
    for metric, v in frame_scores(preds, refs, posts, short).items():
        out.add("clean", metric, v, per_spk.get(metric))
    repeat = model.config.upsample == "repeat" or model.stride == 1
    for metric, v in ceiling_scores(refs, model.stride if repeat else 1).items():
        out.add("clean", metric, v)
    blur = probes.boundary_posteriors(posts, refs, window=6)
    out.add("clean", "blur_transition", blur["transition"])
    # the same at the short phones (2..short_phone frames; +-2 frames sees one boundary only)
    blur_short = probes.boundary_posteriors(posts, refs, window=2, short=short)
    out.add("clean", "blur_transition_short", blur_short["transition"])
    extra = {"boundary": {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                          for k, v in blur.items()}}
    keep = [i for i, seg in enumerate(task.segments or []) if seg is not None]
    if keep and shifts:
        items = [probes.jitter_items(model, task.x_test[i][None], [task.segments[i]], shifts)
                 for i in keep]
        follow = [probes.follow_probe(model, task.x_test[i], refs[i], task.segments[i], shifts)
                  for i in keep]
        kept = [spk[i] for i in keep]
        for k in sorted({abs(s) for s in shifts if s}):
            changed = [np.mean([u[s]["changed"][0] for s in (k, -k) if s in u]) for u in items]
            out.add_items("clean", f"jitter_changed@{k}", changed, kept)
            fol = [_nanmean([f[s] for s in (k, -k) if s in f]) for f in follow]
            out.add_items("clean", f"jitter_follow@{k}", fol, kept)
        extra["jitter"] = {str(k): {"changed": float(np.mean([u[k]["changed"][0] for u in items]))}
                           for k in shifts}
    return extra


def _nanmean(values) -> float:
    """Mean of the non-NaN values; NaN when there are none."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else float("nan")


def run_one(task, variant: Variant, seed: int, cfg: AblationConfig) -> tuple[Metrics, dict, dict]:
    """Train and evaluate one (task, variant, seed); returns (metrics, probe extras, model info)."""
    contexts = cfg.short_contexts if task.name.endswith("shortctx") else cfg.contexts
    head = "frame" if task.kind == "frame" else "clip"
    mcfg = model_config(variant, head, task.in_dim, len(task.labels), cfg.dim, contexts,
                        cfg.early, cfg.late)
    torch.manual_seed(seed)
    model = build_model(mcfg, task.in_dim, len(task.labels))
    t0 = time.time()
    tcfg = dataclasses.replace(fit_config(task.name, cfg), seed=seed)
    data = FeatureData(task.x_train, task.y_train, task.labels, tcfg.data.crop_frames, seed)
    losses = [h["train_loss"] for h in fit(model, data, tcfg)["history"]]
    train_s = time.time() - t0
    metrics = Metrics()
    if task.kind == "clip":
        extra = clip_metrics(model, task, cfg.jitter_shifts, metrics)
    else:
        extra = frame_metrics(model, task, cfg.jitter_shifts, cfg.short_phone, metrics)
    info = summary(model, task.in_dim)
    info.update(train_seconds=train_s, final_loss=losses[-1] if losses else None)
    return metrics, extra, info


# ---------------------------------------------------------------- whole ablation

def variants_for(task: str, cfg: AblationConfig) -> list[str]:
    """`variants` for pairs/phones/bdg, `kws_variants` for kws12, `stress_variants` for the
    stress tasks (fewer voices, shorter context); `bag` only on clip tasks, `-rep` only on the
    frame task; with `matched_controls`, a none-rf<N> after them for every other field N."""
    names = (cfg.stress_variants if task in STRESS_TASKS else
             cfg.kws_variants if task == "kws12" else cfg.variants)
    frame = task == "phones"
    names = [n for n in names if not (frame and n == "bag")
             and not (not frame and n.endswith("-rep"))]
    if not cfg.matched_controls:
        return names
    contexts = cfg.short_contexts if task.endswith("shortctx") else cfg.contexts
    ref = field_of(contexts)
    fields = [field_of_variant(n, contexts, cfg) for n in names if matchable(n)]
    controls = [f"none-rf{f}" for f in dict.fromkeys(fields) if f != ref]
    return names + [c for c in controls if c not in names]


def matchable(name: str) -> bool:
    """A TDNN variant with pooling or strides (the ones a none-rf<N> control is matched to)."""
    v = parse_variant(name)
    return v.arch == "tdnn" and (v.pool is not None or v.stride > 1) and v.upsample != "repeat"


def field_of_variant(name: str, contexts: list[list[int]], cfg: AblationConfig) -> int:
    """Receptive field (frames) of a variant's model, from `tdnn.models.summary`."""
    mcfg = model_config(parse_variant(name), "clip", cfg.n_mels, 2, 4, contexts, cfg.early,
                        cfg.late)
    return summary(build_model(mcfg, cfg.n_mels, 2), cfg.n_mels)["receptive_field_frames"]


def comparisons(task: str, names: list[str], models: dict) -> list[tuple[str, str]]:
    """(variant, baseline) pairs tested on a task: every variant against `none`; each pooled or
    strided variant against its matched-field none-rf<N>; decimating max-pooling against the
    strided layer of the same rate, and decimating average against max; a -rep head against the
    learned head of the same trunk; bag against none."""
    present = set(names)
    fields = {n: m.get("receptive_field_frames") for n, m in models.get(task, {}).items()}
    out = [(n, "none") for n in names if n != "none"]
    for n in names:
        v = parse_variant(n)
        control = f"none-rf{fields.get(n)}"
        if matchable(n) and control in present and control != n:
            out.append((n, control))
        if v.pool and v.decimate and v.upsample == "learned":
            other = (f"stride{v.width}-{v.where}" if v.pool == "max"
                     else f"max{v.width}-{v.where}-dec")
            if other in present:
                out.append((n, other))
        if v.upsample == "repeat" and n[:-4] in present:
            out.append((n, n[:-4]))
    return out


def margins() -> dict[str, float]:
    """TOST equivalence margin per metric: ±1 point for every % metric."""
    return {m: PERCENT_MARGIN for m in PERCENT_METRICS}


def run(cfg: AblationConfig, out_dir: str | Path, log=print) -> dict:
    """Run the ablation into `out_dir`: results.{md,csv,json}, records.json, probes.json, plots/."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, cfg.threads))
    for name in cfg.variants + cfg.kws_variants + cfg.stress_variants:
        parse_variant(name)
    data_dir = Path(cfg.data_dir) if cfg.data_dir else out / "data"
    failed = sum(ensure_corpora(cfg, data_dir, set().union(*map(corpora_of, cfg.tasks)), ds, log)
                 for ds in cfg.data_seeds)
    records, extras, models, task_info = [], {}, {}, {}
    started = time.time()
    for task_name in cfg.tasks:
        t0 = time.time()
        tasks = {}
        for data_seed in cfg.data_seeds:
            tasks[data_seed] = task = load_task(task_name, cfg, data_dir, data_seed)
            task_info.setdefault(task_name, {})[f"data_seed {data_seed}"] = task.info
            log(f"[{task_name}] corpus seed {data_seed} loaded in {time.time() - t0:.0f} s: "
                f"{task.info}")
        for vname in variants_for(task_name, cfg):  # every run of a variant, then the next
            for data_seed, task in tasks.items():
                for seed in cfg.seeds:
                    metrics, extra, info = run_one(task, parse_variant(vname), seed, cfg)
                    records += run_records(task_name, vname, data_seed, seed, metrics)
                    extras.setdefault(task_name, {}).setdefault(vname, []).append(extra)
                    models.setdefault(task_name, {})[vname] = {
                        k: info[k] for k in ("params", "receptive_field_frames",
                                             "output_stride_frames", "macs_per_second")}
                    models[task_name][vname]["train_seconds"] = round(info["train_seconds"], 1)
                    shown = ", ".join(f"{k}={v:.3f}" for k, v in metrics.values["clean"].items()
                                      if not k.startswith(("jitter", "ceiling")))
                    log(f"[{task_name}] {vname} corpus {data_seed} seed {seed}: {shown} "
                        f"({info['train_seconds']:.1f} s)")
            write_outputs(out, cfg, records, extras, models, task_info, time.time() - started)
        task_info[task_name]["seconds"] = round(time.time() - t0, 1)
    result = write_outputs(out, cfg, records, extras, models, task_info, time.time() - started)
    return {**result, "failed_items": failed}


def run_records(task: str, variant: str, data_seed: int, seed: int, m: Metrics) -> list[dict]:
    """Long-form records of one run, with per-speaker values where the metric has them."""
    recs = []
    for cond, values in m.values.items():
        for metric, value in values.items():
            rec = {"task": task, "condition": cond, "variant": variant, "data_seed": data_seed,
                   "seed": seed, "metric": metric, "value": value}
            if (cond, metric) in m.speakers:
                rec["speakers"] = m.speakers[(cond, metric)]
            recs.append(rec)
    return recs


def _mean_curves(runs: list[dict], key: str) -> dict | None:
    """Mean over seeds of a per-run boundary-posterior result."""
    got = [r[key] for r in runs if key in r and r[key].get("n")]
    if not got:
        return None
    return {"offsets": np.asarray(got[0]["offsets"]),
            "left": np.mean([g["left"] for g in got], 0),
            "right": np.mean([g["right"] for g in got], 0), "n": got[0]["n"]}


def probe_curves(extras: dict) -> dict:
    """Per task and variant, probe results averaged (confusions summed) over seeds."""
    curves: dict = {}
    for task, by_variant in extras.items():
        for vname, runs in by_variant.items():
            entry = curves.setdefault(task, {}).setdefault(vname, {})
            if any("jitter" in r for r in runs):
                shifts = runs[0]["jitter"].keys()
                entry["jitter_changed"] = {k: float(np.mean([r["jitter"][k]["changed"]
                                                             for r in runs])) for k in shifts}
            bc = _mean_curves(runs, "boundary")
            if bc:
                entry["boundary"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                     for k, v in bc.items()}
            if any("sets" in r for r in runs):
                entry["set_confusions"] = [np.sum([r["sets"][i]["confusion"] for r in runs],
                                                  0).tolist()
                                           for i in range(len(runs[0]["sets"]))]
    return curves


def write_outputs(out: Path, cfg: AblationConfig, records: list[dict], extras: dict,
                  models: dict, task_info: dict, seconds: float) -> dict:
    """Tables (Markdown, CSV, JSON), raw records, probe curves, variant summary and plots."""
    return write_all(out, cfg, records, probe_curves(extras), models, task_info, seconds)


def write_all(out: Path, cfg: AblationConfig, records: list[dict], curves: dict, models: dict,
              task_info: dict, seconds: float) -> dict:
    """Write every output of an ablation from its records and averaged probe curves."""
    names = {t: list(dict.fromkeys(r["variant"] for r in records if r["task"] == t))
             for t in dict.fromkeys(r["task"] for r in records)}
    rows = table.summarize(records, "none", lambda t, vs: comparisons(t, names[t], models),
                           margins(), untested=CEILINGS)
    meta = {"seeds": cfg.seeds, "data_seeds": cfg.data_seeds, "seconds": round(seconds, 1), "tasks": task_info,
            "config": json.loads(json.dumps(dataclasses.asdict(cfg))), "models": models}
    paths = table.write_tables(rows, out, "results", PERCENT_METRICS, meta)
    (out / "records.json").write_text(json.dumps(records, indent=1) + "\n")
    (out / "probes.json").write_text(json.dumps(curves) + "\n")
    (out / "variants.md").write_text(variants_markdown(models, names))
    (out / "summary.md").write_text(summary_markdown(rows, cfg))
    make_plots(out / "plots", rows, curves, cfg)
    return {"rows": rows, "paths": paths, "seconds": seconds}


def split_part(part: str | Path) -> tuple[Path, set[str] | None]:
    """'DIR' -> (DIR, None: every task); 'DIR:pairs,bdg' -> (DIR, {'pairs', 'bdg'})."""
    text = str(part)
    if Path(text).is_dir() or ":" not in text:
        return Path(text), None
    folder, tasks = text.rsplit(":", 1)
    return Path(folder), {t.strip() for t in tasks.split(",") if t.strip()}


def combine(parts: list[str | Path], out: str | Path, cfg: AblationConfig) -> dict:
    """Merge finished ablation folders into `out`: parts may hold other tasks, other variants,
    or more runs (other seeds or corpus seeds) of the same variants; 'DIR:task,task' takes only
    those tasks from DIR (e.g. one re-run elsewhere).

    Each part gives the variants it finished (a part stopped early gives those it completed).
    Errors: a run (task, variant, corpus seed, seed) in two parts, a corpus seed whose corpus
    differs between parts, a variant whose model differs. Probe curves are averaged over all runs
    of a variant, minimal-pair confusions summed; `seconds` is the longest part's.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, curves, models, task_info, seconds = [], {}, {}, {}, 0.0
    runs: dict[tuple[str, str], set] = {}  # (task, variant) -> {(data_seed, seed)}
    for part, only in map(split_part, parts):
        meta = json.loads((part / "results.json").read_text())["meta"]
        part_curves = json.loads((part / "probes.json").read_text())
        finished = {t: v for t, v in meta["models"].items() if only is None or t in only}
        part_records = [r for r in json.loads((part / "records.json").read_text())
                        if r["variant"] in finished.get(r["task"], {})]
        part_runs: dict[tuple[str, str], set] = {}
        for r in part_records:
            part_runs.setdefault((r["task"], r["variant"]), set()).add((r["data_seed"], r["seed"]))
        for (t, v), got in part_runs.items():
            clash = sorted(got & runs.get((t, v), set()))
            if clash:
                raise ConfigError(f"{part}: task {t} variant {v} corpus seed {clash[0][0]} seed "
                                  f"{clash[0][1]} is in more than one folder to combine")
        for t, by_variant in finished.items():
            done = set().union(*(got for (tt, _), got in part_runs.items() if tt == t))
            _merge_task_info(task_info, t, meta["tasks"][t], done, part)
            for v, m in by_variant.items():
                old = models.setdefault(t, {}).get(v)
                if old and any(old[k] != m[k] for k in ("params", "receptive_field_frames",
                                                        "output_stride_frames")):
                    raise ConfigError(f"{part}: task {t} variant {v} is a different model "
                                      "than in another folder to combine")
                models[t][v] = m
                n_old, n_new = len(runs.get((t, v), ())), len(part_runs.get((t, v), ()))
                if v in part_curves.get(t, {}):
                    entry = curves.setdefault(t, {})
                    entry[v] = merge_curves(entry.get(v, {}), n_old, part_curves[t][v], n_new)
        for key, got in part_runs.items():
            runs.setdefault(key, set()).update(got)
        records += part_records
        seconds = max(seconds, meta["seconds"])
    order = {t: i for i, t in enumerate(cfg.tasks)}
    records.sort(key=lambda r: (order.get(r["task"], len(order)), r["data_seed"], r["seed"]))
    return write_all(out, cfg, records, curves, models, task_info, seconds)


def _merge_task_info(task_info: dict, task: str, mine: dict, done: set, part: Path) -> None:
    """Add one part's corpus facts, the (corpus seed, seed) runs it did and its seconds for
    `task` (seconds add up)."""
    info = task_info.setdefault(task, {"seconds": 0.0, "seeds": [], "data_seeds": []})
    for key, facts in mine.items():
        if key.startswith("data_seed "):
            if info.setdefault(key, facts) != facts:
                raise ConfigError(f"{part}: task {task} corpus seed {key.split()[-1]} is a "
                                  "different corpus than in another folder to combine")
    info["seconds"] = round(info["seconds"] + mine.get("seconds", 0.0), 1)
    info["seeds"] = sorted(set(info["seeds"]) | {seed for _, seed in done})
    info["data_seeds"] = sorted(set(info["data_seeds"]) | {ds for ds, _ in done})


def merge_curves(a: dict, n_a: int, b: dict, n_b: int) -> dict:
    """Probe curves of n_a runs and of n_b other runs of one variant as curves of all n_a + n_b:
    means weighted by run count, minimal-pair confusions summed."""
    if not a:
        return b

    def mean(x, y):
        return ((np.asarray(x) * n_a + np.asarray(y) * n_b) / (n_a + n_b)).tolist()

    out = dict(a)
    if "jitter_changed" in b:
        out["jitter_changed"] = {k: float(mean(a["jitter_changed"][k], v))
                                 for k, v in b["jitter_changed"].items()}
    if "boundary" in b:
        out["boundary"] = {**a["boundary"], "left": mean(a["boundary"]["left"], b["boundary"]["left"]),
                           "right": mean(a["boundary"]["right"], b["boundary"]["right"])}
    if "set_confusions" in b:
        out["set_confusions"] = [(np.asarray(x) + np.asarray(y)).tolist()
                                 for x, y in zip(a["set_confusions"], b["set_confusions"])]
    return out


SUMMARY_METRICS = {
    "clip": [("clean", "accuracy"), ("clean", "set_accuracy"), ("snr20", "accuracy"),
             ("snr10", "accuracy"), ("snr5", "accuracy"), ("snr0", "accuracy"),
             ("clean", "jitter_changed@2"), ("clean", "jitter_accuracy@2")],
    "frame": [("clean", "frame_accuracy"), ("clean", "ceiling_frame_accuracy"),
              ("clean", "frame_accuracy_short"), ("clean", "per_smooth"),
              ("clean", "boundary_f1@1"), ("clean", "ceiling_boundary_f1@1"),
              ("clean", "boundary_f1@2_smooth"), ("clean", "blur_transition"),
              ("clean", "blur_transition_short"),
              ("clean", "jitter_follow@2")],
}


def summary_markdown(rows, cfg: AblationConfig) -> str:
    """One compact table per task (variants x key metrics, mean ± std, q vs 'none')."""
    present = {(r.task, r.condition, r.metric) for r in rows}
    parts = [f"Seeds {cfg.seeds} x corpus seeds {cfg.data_seeds}; mean ± std over runs, "
             "q = Benjamini–Hochberg q-value of the paired test against 'none' over every "
             "comparison in results.csv (all figures in %, except blur_transition(_short) in frames).\n"]
    for task in dict.fromkeys(r.task for r in rows):
        kind = "frame" if (task, "clean", "frame_accuracy") in present else "clip"
        cols = [(task, c, m) for c, m in SUMMARY_METRICS[kind] if (task, c, m) in present]
        parts.append(f"### {task}\n\n" + table.wide_markdown(
            [r for r in rows if r.task == task], cols, PERCENT_METRICS))
    return "\n".join(parts)


def variants_markdown(models: dict, names: dict[str, list[str]]) -> str:
    """Per task and variant: parameters, receptive field and output stride (from
    `tdnn.models.summary` of the model each run built), the matched-field control with its own
    field, and the training time of the last run."""
    lines = ["| task | variant | params | receptive field (frames) | output stride | "
             "matched control | its field | train s (last run) |",
             "|---|---|---:|---:|---:|---|---:|---:|"]
    for task, by_variant in models.items():
        pairs = dict((v, b) for v, b in comparisons(task, names.get(task, list(by_variant)),
                                                    models) if b.startswith("none-rf"))
        for vname, m in by_variant.items():
            control = pairs.get(vname, "")
            field = by_variant[control]["receptive_field_frames"] if control else ""
            lines.append(f"| {task} | {vname} | {m['params']} | {m['receptive_field_frames']} | "
                         f"{m['output_stride_frames']} | {control} | {field} | "
                         f"{m['train_seconds']} |")
    return "\n".join(lines) + "\n"


def make_plots(folder: Path, rows, curves: dict, cfg: AblationConfig) -> None:
    """Accuracy vs width, jitter, boundary posteriors and minimal-pair confusion PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    families: dict[str, dict[int, str]] = {}
    for name in cfg.variants:
        v = parse_variant(name)
        if v.upsample == "repeat":
            continue
        if v.pool:
            label = f"{v.pool}, {v.where}{', decimating' if v.decimate else ''}"
            families.setdefault(label, {})[v.width] = name
        elif v.stride > 1:
            families.setdefault(f"stride, {v.where}", {})[v.stride] = name
    for metric, fname, label in (("accuracy", "accuracy_vs_width.png", "accuracy (%)"),
                                 ("set_accuracy", "pairs_set_accuracy_vs_width.png",
                                  "accuracy within minimal-pair sets (%)"),
                                 ("frame_accuracy", "phones_frame_accuracy_vs_width.png",
                                  "frame accuracy (%)"),
                                 ("boundary_f1@2", "phones_boundary_f1_vs_width.png",
                                  "boundary F1 within ±2 frames (%)")):
        plots.metric_vs_width(rows, families, metric, folder / fname, ylabel=label)
    for task, by_variant in curves.items():
        jit = {v: {int(k): x for k, x in c["jitter_changed"].items()}
               for v, c in by_variant.items() if "jitter_changed" in c}
        if jit:
            plots.jitter_curves(jit, folder / f"{task}_jitter.png",
                                         title=f"jitter probe: {task}")
        bounds = {v: c["boundary"] for v, c in by_variant.items() if "boundary" in c}
        if bounds:
            chosen = {v: bounds[v] for v in bounds
                      if v in ("none", "max2-early", "max4-early", "max2-early-dec",
                               "stride2-early", "cnn2d")} or bounds
            plots.boundary_curves(chosen, folder / f"{task}_boundary_posteriors.png")
        conf = {v: c["set_confusions"] for v, c in by_variant.items() if "set_confusions" in c}
        if conf:
            from data_prep import words
            groups = [list(g) for g in words.MINIMAL_PAIRS]
            order = [w for g in groups for w in g]
            chosen = {v: conf[v] for v in ("none", "max4-early", "max3-early-dec", "cnn2d")
                      if v in conf} or dict(list(conf.items())[:2])
            full = {v: _block_confusion(c) for v, c in chosen.items()}
            plots.pair_confusions(full, order, folder / f"{task}_pair_confusion.png")


def _block_confusion(per_set: list[list[list[int]]]) -> np.ndarray:
    """The per-set confusions as one block-diagonal matrix over all minimal-pair words."""
    n = sum(len(c) for c in per_set)
    full = np.zeros((n, n))
    i = 0
    for c in per_set:
        k = len(c)
        full[i:i + k, i:i + k] = c
        i += k
    return full
