"""The pooling ablation: does max-pooling in time blur phonetic timing?

Variants of one TDNN share every weight shape (pooling and strides add no parameters), so they
are matched in parameter count by construction; the 2D-CNN baseline is scaled to the same count.
Variant names:
    none                    the reference: no pooling, stride 1
    max<w>-early[-dec]      max-pooling of width w after each `early` layer (default the first
                            two); '-dec' pools with stride w (decimating), else stride 1
    max<w>-late[-dec]       the same after each `late` layer (default the last two)
    avg<w>-early[-dec]      average pooling instead of max (also -late)
    stride<s>-early         no pooling; the early layers themselves have stride s (fewer frames
                            without a max: separates "decimation" from "max over frames")
    cnn2d                   the image-style 2D CNN preset (2x2 max-pooling in time and frequency)
Each (task, variant, seed) trains a fresh model on cached features (`tdnn.train.fit`), then
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
from ..train_data import FeatureData, accuracy, predict_features
from ..models import LayerSpec, ModelConfig, build_model, preset_config, summary
from . import plots, probes, table

VARIANT_RE = re.compile(r"^(?:(none)|(cnn2d)|(max|avg)(\d+)-(early|late)(-dec)?|stride(\d+)-(early|late))$")

PERCENT_METRICS = ("accuracy", "set_accuracy", "frame_accuracy", "per", "per_smooth",
                   "boundary_f1@1", "boundary_f1@2", "boundary_f1@3", "boundary_f1@2_smooth",
                   *(f"jitter_{kind}@{k}" for kind in ("changed", "follow") for k in range(1, 9)))
SMOOTH = 5  # frames of posterior averaging for the *_smooth frame metrics


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


def parse_variant(name: str) -> Variant:
    """The Variant a name like 'max3-early', 'avg2-late-dec', 'stride2-early' or 'cnn2d' describes."""
    m = VARIANT_RE.match(name)
    if not m:
        raise ConfigError(f"ablation variant {name!r}: use none, cnn2d, max<w>-early|late[-dec], "
                          "avg<w>-early|late[-dec] or stride<s>-early|late")
    if m.group(1):
        return Variant(name)
    if m.group(2):
        return Variant(name, arch="cnn2d")
    if m.group(3):
        width = int(m.group(4))
        if width < 2:
            raise ConfigError(f"ablation variant {name!r}: pooling width must be 2 or more")
        return Variant(name, pool=m.group(3), width=width, where=m.group(5),
                       decimate=bool(m.group(6)))
    stride = int(m.group(7))
    if stride < 2:
        raise ConfigError(f"ablation variant {name!r}: stride must be 2 or more")
    return Variant(name, where=m.group(8), stride=stride)


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


def cnn2d_config(head: str, in_dim: int, n_classes: int, target: int) -> ModelConfig:
    """The 'cnn2d' preset with its channel counts scaled so its parameters come closest to `target`."""
    base = preset_config("cnn2d")
    best, best_gap = None, None
    for scale in np.arange(0.1, 3.0, 0.02):
        layers = [dataclasses.replace(s, dim=max(1, int(round(s.dim * scale)))) for s in base.layers]
        cfg = dataclasses.replace(base, layers=layers, head=head, dropout=0.0)
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
        return cnn2d_config(head, in_dim, n_classes, n_params(ref, in_dim, n_classes))
    return ModelConfig(layers=tdnn_layers(variant, dim, contexts, early, late), head=head,
                       stats="meanstd", dropout=0.0)


DEFAULT_VARIANTS = ["none", "max2-early", "max3-early", "max4-early", "max2-late", "max4-late",
                    "max2-early-dec", "max3-early-dec", "avg3-early", "stride2-early", "cnn2d"]
KWS_VARIANTS = ["none", "max2-early", "max3-early", "max3-early-dec", "stride2-early"]
STRESS_TASKS = ("pairs-fewvoices", "pairs-shortctx")
STRESS_VARIANTS = ["none", "max2-early", "max3-early", "max2-early-dec", "stride2-early"]


@dataclass
class AblationConfig:
    """Everything `tdnn ablate` runs; every field can be set in config.toml or with --set k=v."""
    tasks: list[str] = field(default_factory=lambda: ["pairs", "kws12", "phones", "bdg",
                                                      "pairs-fewvoices", "pairs-shortctx"])
    variants: list[str] = field(default_factory=lambda: list(DEFAULT_VARIANTS))
    kws_variants: list[str] = field(default_factory=lambda: list(KWS_VARIANTS))
    stress_variants: list[str] = field(default_factory=lambda: list(STRESS_VARIANTS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
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
    data_dir: str | None = None                 # corpora: built here when missing (default OUT/data)
    data_seed: int = 0
    pairs_speakers: int = 80
    few_voices: int = 12                        # training speakers of pairs-fewvoices
    kws_speakers: int = 60
    phones_speakers: int = 40
    phones_sentences: int = 8
    bdg_speakers: int = 60
    bdg_mels: int = 16                          # Waibel: 16 mel coefficients x 15 frames
    pairs_fit: TrainConfig = field(default_factory=lambda: features_config(epochs=8))
    kws_fit: TrainConfig = field(default_factory=lambda: features_config(epochs=8))
    phones_fit: TrainConfig = field(default_factory=lambda: features_config(epochs=12, batch_size=16))
    bdg_fit: TrainConfig = field(default_factory=lambda: features_config(epochs=15, batch_size=64))
    threads: int = 1


QUICK = {"tasks": ["pairs", "phones", "bdg"], "variants": ["none", "max3-early", "stride2-early"],
         "kws_variants": ["none", "max3-early"], "stress_variants": ["none", "max3-early"],
         "seeds": [0, 1], "dim": 24, "pairs_speakers": 24, "phones_speakers": 8,
         "phones_sentences": 3, "bdg_speakers": 12, "snrs": [10.0], "jitter_shifts": [0, 2],
         "pairs_fit": {"epochs": 2}, "phones_fit": {"epochs": 2, "batch_size": 8},
         "bdg_fit": {"epochs": 3}}


# ---------------------------------------------------------------- data

def ensure_corpora(cfg: AblationConfig, data_dir: Path, needed: set[str], log=print) -> int:
    """Build each synthetic corpus the tasks need (pairs, kws, phones, bdg) whose folder is
    missing, empty or an interrupted build; any other non-empty folder (e.g. a real TIMIT copy
    as `phones`) is used as it is.
    Items the synthesiser failed on are logged (file and reason); returns how many failed."""
    from data_prep import espeak, synth_commands, synth_phones, words

    from ..data import corpus
    accents = list(espeak.ENGLISH_ACCENTS)
    variants = synth_commands.all_variants()
    n_failed = 0
    for name in sorted(needed):
        out = data_dir / name
        if out.is_dir() and any(out.iterdir()) and not corpus.interrupted(out):
            continue  # never write into an existing corpus
        t0 = time.time()
        if name in ("pairs", "kws"):
            word_list = (list(words.minimal_pair_words()) if name == "pairs"
                         else list(words.COMMANDS_10) + list(words.UNKNOWN_EXTRA[:10]))
            n = cfg.pairs_speakers if name == "pairs" else cfg.kws_speakers
            speakers = synth_commands.make_speakers(n, cfg.data_seed, accents, variants)
            result = synth_commands.build(out, speakers, word_list, seed=cfg.data_seed, jobs=1,
                                          noise_seconds=30.0, progress=False)
        elif name == "phones":
            result = synth_phones.build_timit(out, cfg.phones_speakers, cfg.phones_sentences,
                                              seed=cfg.data_seed, accents=accents,
                                              variants=variants, test_fraction=0.25, jobs=1,
                                              progress=False)
        else:
            result = synth_phones.build_bdg(out, cfg.bdg_speakers, seed=cfg.data_seed,
                                            accents=accents, variants=variants, jobs=1,
                                            progress=False)
        failures = result.get("failures", [])
        for item, reason in failures:
            log(f"failed: {out / item}: {reason}")
        n_failed += len(failures)
        log(f"built {out} in {time.time() - t0:.0f} s ({len(failures)} failed items)")
    return n_failed


def corpus_of(task: str) -> str:
    """The corpus folder name a task reads."""
    return {"kws12": "kws", "phones": "phones", "bdg": "bdg"}.get(task, "pairs")


def load_task(name: str, cfg: AblationConfig, data_dir: Path):
    """The `tasks.Task` behind a task name."""
    from data_prep import words

    from ..features import FrontendConfig
    from . import tasks as at
    fe = FrontendConfig(n_mels=cfg.n_mels, normalize="meanvar")
    root = data_dir / corpus_of(name)
    if name in ("pairs", "pairs-shortctx", "pairs-fewvoices"):
        few = cfg.few_voices if name == "pairs-fewvoices" else None
        snrs = cfg.snrs if name == "pairs" else []
        return at.clip_task(name, root, list(words.minimal_pair_words()), fe,
                            groups=[list(g) for g in words.MINIMAL_PAIRS], snrs=snrs,
                            max_train_speakers=few, probe_phones=name == "pairs",
                            seed=cfg.data_seed)
    if name == "kws12":
        return at.keyword_task(name, root, fe, snrs=cfg.snrs, seed=cfg.data_seed)
    if name == "phones":
        return at.frame_task(name, root, fe)
    if name == "bdg":
        return at.bdg_task(name, root, FrontendConfig(n_mels=cfg.bdg_mels, normalize="meanvar"))
    raise ConfigError(f"ablation task {name!r}: use pairs, kws12, phones, bdg, pairs-fewvoices "
                      "or pairs-shortctx")


def fit_config(name: str, cfg: AblationConfig) -> TrainConfig:
    """Training settings of a task."""
    return {"kws12": cfg.kws_fit, "phones": cfg.phones_fit, "bdg": cfg.bdg_fit}.get(name,
                                                                                    cfg.pairs_fit)


# ---------------------------------------------------------------- one run

def _shift_means(jitter: dict[int, dict[str, float]], key: str) -> dict[int, float]:
    """Probe values averaged over +k and -k, for k = 0, 1, 2, ..."""
    out = {}
    for k in sorted({abs(s) for s in jitter}):
        vals = [jitter[s][key] for s in (k, -k) if s in jitter]
        out[k] = float(np.mean(vals))
    return out


def evaluate_run(model, task, shifts: list[int]) -> tuple[dict[str, dict[str, float]], dict]:
    """Metrics per condition ({'clean': {...}, 'snr10': {...}}) and probe curves for one model."""
    metrics: dict[str, dict[str, float]] = {}
    extra: dict = {}
    if task.kind == "clip":
        logits = predict_features(model, task.x_test)
        clean = {"accuracy": accuracy(logits, task.y_test)}
        if task.groups:
            scores = probes.set_scores(logits, task.y_test.numpy(), task.groups)
            clean["set_accuracy"] = scores["accuracy"]
            extra["sets"] = scores["sets"]
        metrics["clean"] = clean
        for cond, x in task.conditions.items():
            metrics[cond] = {"accuracy": accuracy(predict_features(model, x), task.y_test)}
    else:
        logits = predict_features(model, task.x_test)
        preds = [lg.argmax(0) for lg in logits]
        refs = [y.numpy() for y in task.y_test]
        report = framemetrics.frame_report(preds, refs)
        clean = {"frame_accuracy": report["frame_accuracy"], "per": report["per"]}
        for t in (1, 2, 3):
            clean[f"boundary_f1@{t}"] = report["boundary"][f"pm{t}"]["f1"]
        posts = [torch.from_numpy(lg).softmax(0).numpy() for lg in logits]
        smooth = framemetrics.frame_report([framemetrics.smoothed_labels(p, SMOOTH)
                                            for p in posts], refs)
        clean["per_smooth"] = smooth["per"]
        clean["boundary_f1@2_smooth"] = smooth["boundary"]["pm2"]["f1"]
        blur = probes.boundary_posteriors(posts, refs, window=6)
        clean["blur_transition"] = blur["transition"]
        extra["boundary"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                             for k, v in blur.items()}
        extra["boundary_prf"] = report["boundary"]
        metrics["clean"] = clean
    keep = [i for i, seg in enumerate(task.segments or []) if seg is not None]
    if keep and shifts:
        segs = [task.segments[i] for i in keep]
        if task.kind == "clip":
            jitter = probes.jitter_probe(model, task.x_test[keep], segs, shifts, task.y_test[keep])
        else:  # utterances differ in length: probe them one by one, then average
            per_utt = [probes.jitter_probe(model, task.x_test[i][None], [seg], shifts)
                       for i, seg in zip(keep, segs)]
            jitter = {k: {m: float(np.mean([u[k][m] for u in per_utt])) for m in per_utt[0][k]}
                      for k in shifts}
            follow = [probes.follow_probe(model, task.x_test[i], task.y_test[i].numpy(), seg,
                                          shifts) for i, seg in zip(keep, segs)]
            for k in sorted({abs(s) for s in shifts if s}):
                vals = [f[s] for f in follow for s in (k, -k) if s in f]
                metrics["clean"][f"jitter_follow@{k}"] = float(np.nanmean(vals))
        for k, v in _shift_means(jitter, "changed").items():
            if k > 0:
                metrics["clean"][f"jitter_changed@{k}"] = v
        extra["jitter"] = {str(k): v for k, v in jitter.items()}
    return metrics, extra


def run_one(task, variant: Variant, seed: int, cfg: AblationConfig) -> tuple[dict, dict, dict]:
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
    metrics, extra = evaluate_run(model, task, cfg.jitter_shifts)
    info = summary(model, task.in_dim)
    info.update(train_seconds=train_s, final_loss=losses[-1] if losses else None)
    return metrics, extra, info


# ---------------------------------------------------------------- whole ablation

def variants_for(task: str, cfg: AblationConfig) -> list[str]:
    """`variants` for pairs/phones/bdg, `kws_variants` for kws12, `stress_variants` for the
    stress tasks (fewer voices, shorter context)."""
    if task in STRESS_TASKS:
        return cfg.stress_variants
    return cfg.kws_variants if task == "kws12" else cfg.variants


def run(cfg: AblationConfig, out_dir: str | Path, log=print) -> dict:
    """Run the ablation into `out_dir`: results.{md,csv,json}, records.json, probes.json, plots/."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, cfg.threads))
    for name in cfg.variants + cfg.kws_variants + cfg.stress_variants:
        parse_variant(name)
    data_dir = Path(cfg.data_dir) if cfg.data_dir else out / "data"
    failed = ensure_corpora(cfg, data_dir, {corpus_of(t) for t in cfg.tasks}, log)
    records, extras, models, task_info = [], {}, {}, {}
    started = time.time()
    for task_name in cfg.tasks:
        t0 = time.time()
        task = load_task(task_name, cfg, data_dir)
        task_info[task_name] = {**task.info, "load_seconds": round(time.time() - t0, 1)}
        log(f"[{task_name}] loaded in {time.time() - t0:.0f} s: {task.info}")
        for vname in variants_for(task_name, cfg):
            variant = parse_variant(vname)
            for seed in cfg.seeds:
                metrics, extra, info = run_one(task, variant, seed, cfg)
                for cond, values in metrics.items():
                    for metric, value in values.items():
                        records.append({"task": task_name, "condition": cond, "variant": vname,
                                        "seed": seed, "metric": metric, "value": value})
                extras.setdefault(task_name, {}).setdefault(vname, []).append(extra)
                models.setdefault(task_name, {})[vname] = {
                    k: info[k] for k in ("params", "receptive_field_frames",
                                         "output_stride_frames", "macs_per_second")}
                models[task_name][vname]["train_seconds"] = round(info["train_seconds"], 1)
                shown = ", ".join(f"{k}={v:.3f}" for k, v in metrics["clean"].items()
                                  if not k.startswith("jitter"))
                log(f"[{task_name}] {vname} seed {seed}: {shown} ({info['train_seconds']:.1f} s)")
        task_info[task_name]["seconds"] = round(time.time() - t0, 1)
        write_outputs(out, cfg, records, extras, models, task_info, time.time() - started)
    result = write_outputs(out, cfg, records, extras, models, task_info, time.time() - started)
    return {**result, "failed_items": failed}


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
    rows = table.summarize(records, reference="none")
    meta = {"seeds": cfg.seeds, "seconds": round(seconds, 1), "tasks": task_info,
            "config": json.loads(json.dumps(dataclasses.asdict(cfg))), "models": models}
    paths = table.write_tables(rows, out, "results", PERCENT_METRICS, meta)
    (out / "records.json").write_text(json.dumps(records, indent=1) + "\n")
    (out / "probes.json").write_text(json.dumps(curves) + "\n")
    (out / "variants.md").write_text(variants_markdown(models))
    (out / "summary.md").write_text(summary_markdown(rows, cfg))
    make_plots(out / "plots", rows, curves, cfg)
    return {"rows": rows, "paths": paths, "seconds": seconds}


def combine(parts: list[str | Path], out: str | Path, cfg: AblationConfig) -> dict:
    """Merge finished ablation folders that ran disjoint tasks (e.g. in parallel) into `out`.

    Each part's records, probe curves and model summaries are taken for the tasks it
    completed; a task present in two parts is an error. `seconds` is the longest part's.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, curves, models, task_info, seconds = [], {}, {}, {}, 0.0
    for part in map(Path, parts):
        meta = json.loads((part / "results.json").read_text())["meta"]
        done = [t for t in meta["tasks"] if "seconds" in meta["tasks"][t]]
        clash = sorted(set(done) & set(task_info))
        if clash:
            raise ConfigError(f"{part}: task {clash[0]} is in more than one folder to combine")
        part_curves = json.loads((part / "probes.json").read_text())
        records += [r for r in json.loads((part / "records.json").read_text())
                    if r["task"] in done]
        for t in done:
            task_info[t] = meta["tasks"][t]
            models[t] = meta["models"][t]
            if t in part_curves:
                curves[t] = part_curves[t]
        seconds = max(seconds, meta["seconds"])
    order = {t: i for i, t in enumerate(cfg.tasks)}
    records.sort(key=lambda r: order.get(r["task"], len(order)))
    return write_all(out, cfg, records, curves, models, task_info, seconds)


SUMMARY_METRICS = {
    "clip": [("clean", "accuracy"), ("clean", "set_accuracy"), ("snr20", "accuracy"),
             ("snr10", "accuracy"), ("snr5", "accuracy"), ("snr0", "accuracy"),
             ("clean", "jitter_changed@2")],
    "frame": [("clean", "frame_accuracy"), ("clean", "per"), ("clean", "per_smooth"),
              ("clean", "boundary_f1@1"), ("clean", "boundary_f1@2"),
              ("clean", "boundary_f1@2_smooth"), ("clean", "blur_transition"),
              ("clean", "jitter_follow@2")],
}


def summary_markdown(rows, cfg: AblationConfig) -> str:
    """One compact table per task (variants x key metrics, mean ± std, Welch p vs 'none')."""
    present = {(r.task, r.condition, r.metric) for r in rows}
    parts = [f"Seeds {cfg.seeds}; mean ± std over seeds, p = Welch t-test vs 'none' "
             "(all figures in %, except blur_transition in frames).\n"]
    for task in dict.fromkeys(r.task for r in rows):
        kind = "frame" if (task, "clean", "frame_accuracy") in present else "clip"
        cols = [(task, c, m) for c, m in SUMMARY_METRICS[kind] if (task, c, m) in present]
        parts.append(f"### {task}\n\n" + table.wide_markdown(
            [r for r in rows if r.task == task], cols, PERCENT_METRICS))
    return "\n".join(parts)


def variants_markdown(models: dict) -> str:
    """Per task and variant: parameters, receptive field, output stride, mean training time."""
    lines = ["| task | variant | params | receptive field (frames) | output stride | "
             "train s (last seed) |", "|---|---|---:|---:|---:|---:|"]
    for task, by_variant in models.items():
        for vname, m in by_variant.items():
            lines.append(f"| {task} | {vname} | {m['params']} | {m['receptive_field_frames']} | "
                         f"{m['output_stride_frames']} | {m['train_seconds']} |")
    return "\n".join(lines) + "\n"


def make_plots(folder: Path, rows, curves: dict, cfg: AblationConfig) -> None:
    """Accuracy vs width, jitter, boundary posteriors and minimal-pair confusion PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    families: dict[str, dict[int, str]] = {}
    for name in cfg.variants:
        v = parse_variant(name)
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
