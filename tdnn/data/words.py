"""The Speech Commands vocabulary: the 35 words of v0.02 and the ten keywords of the 12-class
task, with the labels of its two extra classes. One list for the loader and the corpus builders."""

# The 35 words of Speech Commands v0.02, in the dataset's alphabetical order.
WORDS_35 = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
            "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on",
            "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up",
            "visual", "wow", "yes", "zero")
# The ten keywords of the 12-class task, in the TensorFlow reference's order.
WORDS_10 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
