"""Keyword spotting on Speech Commands (synthetic eSpeak corpus by default): kws TDNN vs 2D CNN."""
