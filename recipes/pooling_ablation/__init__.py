"""Pooling ablation recipe: does max-pooling in time blur phonetic timing? (`tdnn ablate`)."""
