"""Statistics of the pooling ablation: paired tests, a bootstrap over test speakers, equivalence
(TOST) and Benjamini–Hochberg q-values.

A comparison is a variant against a baseline on the same task, condition and metric. Runs are
paired by (corpus seed, training seed): the same data and the same initialisation seed. Clips
of one test speaker are correlated, so where per-speaker values exist the test resamples test
speakers *and* runs (a two-way cluster bootstrap); otherwise it is a paired t-test over runs.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

N_BOOT = 4000


def bh_qvalues(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) over all finite entries; NaN stays NaN."""
    p = np.asarray(p_values, float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = stats.false_discovery_control(p[ok], method="bh")
    return q


def paired_t(d) -> float:
    """Two-sided p of a paired t-test on differences `d` (NaN with < 2 or no spread)."""
    d = np.asarray(d, float)
    if len(d) < 2 or d.std() == 0:
        return float("nan")
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def tost_t(d, margin: float) -> float:
    """TOST p-value that the mean of paired differences `d` lies within ±margin: the larger of
    the two one-sided t-test p-values (H0: mean <= -margin; H0: mean >= +margin)."""
    d = np.asarray(d, float)
    if len(d) < 2 or d.std() == 0:
        return float("nan")
    se = d.std(ddof=1) / math.sqrt(len(d))
    df = len(d) - 1
    p_low = stats.t.sf((d.mean() + margin) / se, df)
    p_high = stats.t.cdf((d.mean() - margin) / se, df)
    return float(max(p_low, p_high))


def cluster_bootstrap(blocks, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of a weighted mean difference, resampling runs and speakers.

    `blocks` is one (D, w) per corpus seed: D [runs, speakers] paired differences, w [speakers]
    weights (e.g. clips per speaker). Each replicate resamples the runs and, independently, the
    speakers of every block with replacement; its value is the mean over blocks of
    sum_k w_k * mean_runs(D[:, k]) / sum_k w_k over the resampled speakers.
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(n_boot)
    for d, w in blocks:
        d, w = np.asarray(d, float), np.asarray(w, float)
        n_runs, n_spk = d.shape
        runs = _counts(rng, n_boot, n_runs)                  # [B, runs]
        spk = _counts(rng, n_boot, n_spk) * w                # [B, speakers], weighted
        total += ((runs @ d) / n_runs * spk).sum(1) / spk.sum(1)
    return total / len(blocks)


def _counts(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """How often each of n items is drawn in each of n_boot resamples of size n."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def boot_p(boot: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 'the mean difference is 0' (percentile inversion)."""
    below = (np.sum(boot <= 0) + 1) / (len(boot) + 1)
    above = (np.sum(boot >= 0) + 1) / (len(boot) + 1)
    return float(min(1.0, 2 * min(below, above)))


def boot_tost(boot: np.ndarray, margin: float) -> float:
    """Bootstrap TOST p-value for |mean difference| < margin (the larger one-sided p)."""
    p_low = (np.sum(boot <= -margin) + 1) / (len(boot) + 1)
    p_high = (np.sum(boot >= margin) + 1) / (len(boot) + 1)
    return float(max(p_low, p_high))


def weighted_diff(blocks) -> float:
    """The statistic `cluster_bootstrap` resamples, on the data as observed."""
    vals = []
    for d, w in blocks:
        d, w = np.asarray(d, float), np.asarray(w, float)
        vals.append(float((d.mean(0) * w).sum() / w.sum()))
    return float(np.mean(vals))
