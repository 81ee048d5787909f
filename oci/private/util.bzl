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

def declare_output(ctx, name, directory = False):
    """A file (or directory) of this target's, at `<target>_/<name>`.

    A target's files live in a folder of its own so that none can have the path of a user's source
    file in the same package (a test named "scan" beside a scanner "scan.sh", an image "app" beside
    "app.config.json"): Bazel would otherwise put the output in its place in runfiles. The `_/`
    suffix is rules_go's convention for the same problem.

    Args:
        ctx: the rule context.
        name: the file's name inside the target's folder.
        directory: declare a tree artifact instead of a file.
    Returns:
        The declared File.
    """
    path = "%s_/%s" % (ctx.label.name, name)
    if directory:
        return ctx.actions.declare_directory(path)
    return ctx.actions.declare_file(path)
