"""oci_push: `bazel run` pushes an image or index, mounting base layers from where they were pulled."""

load("@bazel_skylib//lib:shell.bzl", "shell")
load(":providers.bzl", "OciImageInfo")
load(":stamp.bzl", "STAMP_ATTRS", "status_args", "status_files")
load(":toolchain.bzl", "HOST_EXEC_GROUPS", "NODE_TOOLCHAIN_TYPE", "OCIUTIL_ATTRS", "node_toolchain", "run_ociutil")
load(":util.bzl", "declare_output", "pretty")

def _repository_lines(ctx):
    """Shell lines that set $repository: $OCI_PUSH_REPOSITORY, else the attribute or the file's content."""
    if ctx.file.repository_file:
        return [
            "repository=\"${OCI_PUSH_REPOSITORY:-}\"",
            "[ -n \"$repository\" ] || repository=\"$(tr -d ' \\t\\r\\n' < \"$r/%s\")\"" % ctx.file.repository_file.short_path,
        ]
    return ["repository=\"${OCI_PUSH_REPOSITORY:-%s}\"" % ctx.attr.repository.replace("\"", "")]

def _remote_tags_file_lines(files):
    """Shell lines that add a --tag argument for each line of each file (read when the push runs)."""
    lines = []
    for f in files:
        lines.extend([
            "while IFS= read -r t || [ -n \"$t\" ]; do",
            "  t=\"$(printf '%s' \"$t\" | tr -d ' \\t\\r')\"",
            "  [ -z \"$t\" ] || set -- --tag \"$t\" \"$@\"",
            "done < \"$r/%s\"" % f.short_path,
        ])
    return lines

def _stamped_tags(ctx):
    """(literal tags, a file of the tags with {{KEY}} placeholders expanded at build time, or None)."""
    literal = [t for t in ctx.attr.remote_tags if "{{" not in t]
    templated = [t for t in ctx.attr.remote_tags if "{{" in t]
    if not templated:
        return literal, None
    status = status_files(ctx)
    out = declare_output(ctx, "stamped_tags.txt")
    run_ociutil(
        ctx,
        mnemonic = "OciStampTags",
        progress_message = "Stamping the tags of %{label}",
        arguments = ["stamp", "-o", out.path] + status_args(status) + ["--value=" + t for t in templated],
        inputs = depset(status),
        outputs = [out],
    )
    return literal, out

def _attestation_files(ctx):
    """[the image's provenance.json, the signing key if any] when `attest` is set, else []."""
    if not ctx.attr.attest:
        if ctx.file.attest_key:
            fail("%s: attest_key is set but attest is not: set attest = True" % pretty(ctx.label))
        return []
    groups = ctx.attr.image[OutputGroupInfo] if OutputGroupInfo in ctx.attr.image else None
    if groups == None or not hasattr(groups, "provenance"):
        fail("%s: attest = True needs the provenance of %s, which only oci_image and oci_image_index make (a pulled image was built elsewhere)" % (
            pretty(ctx.label),
            pretty(ctx.attr.image.label),
        ))
    return groups.provenance.to_list() + ([ctx.file.attest_key] if ctx.file.attest_key else [])

def _oci_push_impl(ctx):
    info = ctx.attr.image[OciImageInfo]
    sources = info.sources.to_list()
    if len(sources) > 1:
        fail("%s: the images of %s come from several repositories (%s); a push can mount from one only" % (
            pretty(ctx.label),
            pretty(ctx.attr.image.label),
            ", ".join(sources),
        ))
    if bool(ctx.attr.repository) == bool(ctx.file.repository_file):
        fail("%s: give exactly one of `repository` (\"registry/repo\") or `repository_file`" % pretty(ctx.label))
    if ctx.attr.repository and ("@" in ctx.attr.repository or ":" in ctx.attr.repository.split("/")[-1]):
        fail("%s: repository must be \"registry/repo\" (tags go in `remote_tags`), got \"%s\"" % (pretty(ctx.label), ctx.attr.repository))

    # A shallow layout: built layers, manifests and configs; base layers stay in the source repository
    # (recorded in index.json), which the push mounts or streams from. No full pull is needed.
    layout = declare_output(ctx, "layout", directory = True)
    args = ctx.actions.args()
    args.add("layout")
    args.add("--output", layout.path)
    args.add("--descriptor", info.descriptor)
    blobs = info.blobs.to_list()
    layers = info.layers.to_list()
    args.add_all(blobs, before_each = "--blob")
    args.add_all(["%s=%s" % (layer.info.path, layer.blob.path) for layer in layers], before_each = "--layer")
    args.add_all(info.pulled_blobs, before_each = "--named-blob")
    if sources:
        args.add("--allow-missing-from", sources[0])
    run_ociutil(
        ctx,
        mnemonic = "OciPushLayout",
        progress_message = "Writing the layout to push for %{label}",
        arguments = [args],
        inputs = depset(
            [info.descriptor] + [layer.info for layer in layers] + [layer.blob for layer in layers] + blobs,
            transitive = [info.pulled_blobs],
        ),
        outputs = [layout],
    )

    tc = node_toolchain(ctx, host = True)
    literal_tags, stamped_tags = _stamped_tags(ctx)
    flags = ["--tag %s" % shell.quote(t) for t in literal_tags]
    if ctx.attr.insecure:
        flags.append("--insecure")
    attest = _attestation_files(ctx)
    if attest:
        flags.append("--attest \"$r/%s\"" % attest[0].short_path)
    if len(attest) > 1:
        flags.append("--attest-key \"$r/%s\"" % attest[1].short_path)
    if ctx.file.sbom:
        flags.append("--sbom \"$r/%s\"" % ctx.file.sbom.short_path)
    for attr, flag in [("image_refs", "--image-refs"), ("tekton_results", "--tekton-results")]:
        path = getattr(ctx.attr, attr)
        if path:
            # Relative to where `bazel run` was started, as a user expects of a path they typed.
            flags.append("%s \"$(_here %s)\"" % (flag, shell.quote(path)))
    script = declare_output(ctx, "push.sh")
    ctx.actions.write(script, is_executable = True, content = "\n".join([
        "#!/bin/sh",
        "# Generated by oci_push %s: pushes %s." % (pretty(ctx.label), pretty(ctx.attr.image.label)),
        "set -e",
        "r=\"${RUNFILES_DIR:-$0.runfiles}/%s\"" % ctx.workspace_name,
        "[ -d \"$r\" ] || r=\"$PWD\"",
        "_here() { case \"$1\" in /*) printf '%s' \"$1\" ;; *) printf '%s/%s' \"${BUILD_WORKING_DIRECTORY:-$PWD}\" \"$1\" ;; esac; }",
    ] + _repository_lines(ctx) + _remote_tags_file_lines([f for f in [ctx.file.remote_tags_file, stamped_tags] if f]) + [
        "exec \"$r/%s\" \"$r/%s\" push \"$r/%s\" \"$repository\" %s \"$@\"" % (
            tc.node.short_path,
            ctx.file._ociutil.short_path,
            layout.short_path,
            " ".join(flags),
        ),
        "",
    ]))
    extra = [f for f in [ctx.file.repository_file, ctx.file.remote_tags_file, stamped_tags, ctx.file.sbom] if f] + attest
    runfiles = ctx.runfiles(files = [layout, ctx.file._ociutil] + extra, transitive_files = tc.node_files)
    return [DefaultInfo(executable = script, runfiles = runfiles, files = depset([script, layout]))]

oci_push = rule(
    implementation = _oci_push_impl,
    doc = """`bazel run` pushes an image or index to `repository`, with each of `remote_tags`, and prints
registry/repo@digest. Base layers are not downloaded: the push mounts them from the repository they
were pulled from (same registry), or streams them from it. Extra arguments of `bazel run` go to
`ociutil push` (e.g. `-- --tag extra`, or the records `-- --image-refs refs.txt --json`); $OCI_PUSH_REPOSITORY,
if set, replaces `repository`. With `attest = True`, the image's provenance (its `provenance` output
group) is attached to the pushed manifest as a referrer, signed with `attest_key` if given.""",
    executable = True,
    attrs = dict(OCIUTIL_ATTRS, **dict(STAMP_ATTRS, **{
        "image": attr.label(doc = "The image or index.", providers = [OciImageInfo], mandatory = True),
        "repository": attr.string(doc = "registry/repo to push to (or `repository_file`)."),
        "remote_tags": attr.string_list(doc = "Tags to set in the registry (none: pushed by digest only). `{{KEY}}` placeholders are expanded from --workspace_status_command values when stamping; unstamped, a tag with one is not set."),
        "remote_tags_file": attr.label(allow_single_file = True, doc = "More tags, from a file of one tag a line (e.g. made by a stamping step)."),
        "repository_file": attr.label(allow_single_file = True, doc = "Instead of `repository`: a file holding \"registry/repo\", read when the push runs."),
        "insecure": attr.bool(doc = "Plain HTTP to a registry that is not on this machine (a loopback registry needs no flag)."),
        "attest": attr.bool(doc = "After the push, attach the image's SLSA provenance (in-toto Statement v1) as an OCI referrer (`ociutil push --attest`)."),
        "attest_key": attr.label(allow_single_file = True, doc = "Sign the attestation with this ECDSA P-256 PEM private key, for `cosign verify-attestation`. Needs attest = True."),
        "image_refs": attr.string(doc = "Write `registry/repo@sha256:...` of what was pushed to this file, a line each (an index first, then its images): crane's and ko's format. Relative to where `bazel run` was started. Same as `-- --image-refs FILE`."),
        "tekton_results": attr.string(doc = "Write Tekton's IMAGE_URL, IMAGE_DIGEST and IMAGES results into this directory (e.g. \"/tekton/results\"). Same as `-- --tekton-results DIR`."),
        "sbom": attr.label(allow_single_file = [".json"], doc = "An SBOM of the image (an oci_sbom target) to attach to the pushed manifest as a referrer (`ociutil push --sbom`). It needs the image's base layers, so building this push then fetches the full pull."),
    })),
    toolchains = [NODE_TOOLCHAIN_TYPE],
    exec_groups = HOST_EXEC_GROUPS,
)
