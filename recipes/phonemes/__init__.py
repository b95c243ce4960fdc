"""Phoneme recipes: frame phone classification (synthetic or real TIMIT) and Waibel's /b/ /d/ /g/."""
