"""Small helpers shared by the rules."""

def pretty(label):
    """A label as users write it: //pkg:name for the main repository (Bazel 7 prints @@//pkg:name).

    Args:
        label: a Label.
    Returns:
        The label as a string.
    """
    s = str(label)
    if s.startswith("@@//"):
        return s[2:]
    return s
