"""bench/stream_false_alarms.py: each false alarm put down to what was said where it fired."""

import sys
from pathlib import Path

from tdnn.streams import Detection, Event

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from stream_false_alarms import said_at  # noqa: E402


def test_false_alarms_are_put_down_to_what_was_said_there():
    events = [Event("s.wav", "left", 1.0, 1.3)]
    lookalikes = [("theft", 4.0, 4.3, False), ("lift", 8.0, 8.3, True)]
    at = [said_at(Detection(t, label, 0.9), events, lookalikes, 1.0)
          for label, t in (("right", 2.2), ("left", 1.5), ("left", 5.2), ("left", 8.1),
                           ("left", 5.4), ("left", 3.9))]
    # by hand: inside "left"'s window (to 2.3 s) another label is another keyword; 5.2 s is in
    # "theft"'s window (to 5.3 s), 8.1 s on the spliced "lift"; 5.4 s and 3.9 s on nothing
    assert at == [("keyword", "left"), ("same keyword", "left"), ("look-alike", "theft"),
                  ("spliced look-alike", "lift"), ("other", ""), ("other", "")]
