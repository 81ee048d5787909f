"""oci_layer: a reproducible layer tarball from files, directories and symlinks."""

load(":providers.bzl", "OciLayerInfo")
load(":toolchain.bzl", "NODE_TOOLCHAIN_TYPE", "OCIUTIL_ATTRS", "run_ociutil")
load(":util.bzl", "declare_output", "pretty")

def normalize_layer_path(label, prefix, path):
    """`path` under `prefix`, normalized; fail() if it climbs out of the prefix.

    Args:
        label: the target, for the error message.
        prefix: the layer's prefix.
        path: a path relative to the prefix (a leading "/" means the prefix's root).
    Returns:
        The normalized path relative to the prefix.
    """
    parts = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                fail("%s: layer path \"%s\" escapes the layer's prefix \"%s\": use a path inside it (no \"..\" above it), or change `prefix`" % (label, path, prefix or "/"))
            parts.pop()
        else:
            parts.append(seg)
    if not parts:
        fail("%s: layer path \"%s\" names the root of the layer, not a file" % (label, path))
    return "/".join(parts)

def _src_path(ctx, f):
    """Where a file of `srcs` goes: its path relative to `strip_prefix` (default: this package)."""
    path = f.short_path
    if path.startswith("../"):
        # A file of another repository: ../<repo>/<path>.
        path = path.split("/", 2)[2] if path.count("/") >= 2 else f.basename
    if ctx.attr.strip_prefix == ".":
        strip = ""
    elif ctx.attr.strip_prefix:
        strip = ctx.attr.strip_prefix.strip("/")
    else:
        strip = ctx.label.package
    if not strip:
        return path
    if path.startswith(strip + "/"):
        return path[len(strip) + 1:]
    return f.basename

def _modes(ctx):
    """`modes` as {normalized path: int}; ociutil applies them, and fails on a path the layer lacks."""
    out = {}
    for path, m in ctx.attr.modes.items():
        if not m or not all([c in "01234567" for c in m.elems()]) or len(m) > 5:
            fail("%s: mode \"%s\" for \"%s\" is not an octal number such as \"0755\"" % (pretty(ctx.label), m, path))
        out[normalize_layer_path(pretty(ctx.label), ctx.attr.prefix, path)] = int(m, 8)
    return out

def _file_entry(path, f, executable):
    """A manifest entry for a file or directory `f`.

    Its mode is decided here, at analysis time, never from the file's executable bit when the action
    runs (remote executors mark every input executable): 0755 if `f` is the executable of a target,
    else 0644 (files inside a directory too), unless `modes` names it.
    """
    entry = {"path": path, "src": f.path}

    # A source file is its own target's "executable" to Bazel: it counts only through `modes`.
    if executable != None and f == executable and not f.is_source:
        entry["executable"] = True
    return entry

def _oci_layer_impl(ctx):
    entries = []
    inputs = []
    for target in ctx.attr.srcs:
        executable = target[DefaultInfo].files_to_run.executable
        for f in target.files.to_list():
            path = normalize_layer_path(pretty(ctx.label), ctx.attr.prefix, _src_path(ctx, f))
            entries.append(_file_entry(path, f, executable))
            inputs.append(f)
    for target, dest in ctx.attr.files.items():
        path = normalize_layer_path(pretty(ctx.label), ctx.attr.prefix, dest)
        files = target.files.to_list()
        if len(files) != 1:
            fail("%s: files: %s must be one file or directory, it has %d" % (pretty(ctx.label), pretty(target.label), len(files)))
        entries.append(_file_entry(path, files[0], target[DefaultInfo].files_to_run.executable))
        inputs.append(files[0])
    for dest, link in ctx.attr.symlinks.items():
        entries.append({"path": normalize_layer_path(pretty(ctx.label), ctx.attr.prefix, dest), "symlink": link})
    for d in ctx.attr.directories:
        entries.append({"path": normalize_layer_path(pretty(ctx.label), ctx.attr.prefix, d), "type": "dir"})

    manifest = declare_output(ctx, "layer-manifest.json")
    ctx.actions.write(manifest, json.encode_indent({
        "compression": ctx.attr.compression,
        "entries": entries,
        "gid": ctx.attr.gid,
        "modes": _modes(ctx),
        "mtime": ctx.attr.mtime,
        "prefix": ctx.attr.prefix,
        "target": pretty(ctx.label),
        "uid": ctx.attr.uid,
    }))
    blob = declare_output(ctx, "layer.tar.gz" if ctx.attr.compression == "gzip" else "layer.tar")
    info = declare_output(ctx, "layer.json")
    run_ociutil(
        ctx,
        mnemonic = "OciLayer",
        progress_message = "Writing layer %{label}",
        arguments = ["layer", "--manifest", manifest.path, "--output", blob.path, "--info", info.path],
        inputs = depset([manifest] + inputs),
        outputs = [blob, info],
    )
    return [
        DefaultInfo(files = depset([blob])),
        OciLayerInfo(blob = blob, info = info),
        OutputGroupInfo(info = depset([info])),
    ]

oci_layer = rule(
    implementation = _oci_layer_impl,
    doc = """A reproducible layer: a tar (gzip by default) of files, directories and symlinks under a prefix.

Entries are sorted, parent directories are added, mtime/uid/gid are fixed and user and group
names are empty, so the same inputs give the same digest on any machine, locally or under remote
execution. Modes are decided at analysis time: a file is 0755 if it is the executable of a target
(an `sh_binary`, a `*_binary`), or `modes` gives its mode; every other file is 0644 (files inside
directories too), whatever its executable bit on disk; directories are 0755. gzip output is fixed
by the ruleset's version, not by the Node that runs the action. A path that climbs out of `prefix`
with ".." is an error.""",
    attrs = dict(OCIUTIL_ATTRS, **{
        "srcs": attr.label_list(
            doc = "Files and directories, placed at their path relative to `strip_prefix` (default: this package; \".\" keeps the whole workspace path). Directories are copied recursively.",
            allow_files = True,
        ),
        "files": attr.label_keyed_string_dict(
            doc = "A file or directory → its path in the layer (under `prefix`).",
            allow_files = True,
        ),
        "symlinks": attr.string_dict(doc = "Path in the layer → symlink target (any string; an absolute target is fine)."),
        "directories": attr.string_list(doc = "Empty directories to create."),
        "modes": attr.string_dict(doc = "Path in the layer (under `prefix`; files inside `srcs` directories too) → octal mode such as \"0755\". Default: 0755 for a target's executable and for directories, else 0644 (the executable bit on disk is not read). A path the layer does not have is an error."),
        "prefix": attr.string(doc = "Directory the entries go under, e.g. \"app\" (default: the root)."),
        "strip_prefix": attr.string(doc = "For `srcs`: the leading path to remove (default: this package's path; \".\" keeps the full path)."),
        "mtime": attr.int(doc = "Modification time of every entry, in seconds since the epoch.", default = 0),
        "uid": attr.int(doc = "Owner uid of every entry.", default = 0),
        "gid": attr.int(doc = "Owner gid of every entry.", default = 0),
        "compression": attr.string(doc = "\"gzip\" or \"none\".", default = "gzip", values = ["gzip", "none"]),
    }),
    toolchains = [NODE_TOOLCHAIN_TYPE],
)
