"""oci_image_layout: a complete OCI Image Layout directory of an image or index."""

load(":providers.bzl", "OciImageInfo")
load(":toolchain.bzl", "NODE_TOOLCHAIN_TYPE", "OCIUTIL_ATTRS", "run_ociutil")
load(":util.bzl", "declare_output", "pretty")

_FULL_PULL = str(Label("//oci/private:full_pull"))

def _full_pull_transition_impl(_settings, _attr):
    return {_FULL_PULL: True}

# Turns on every `pulled_base` below the edge it is attached to. Only the pulled files are taken
# from that edge; manifests, configs and built layers come from the default-configuration edge, so
# the image's own actions are not run a second time in another configuration.
full_pull_transition = transition(
    implementation = _full_pull_transition_impl,
    inputs = [],
    outputs = [_FULL_PULL],
)

def write_complete_layout(ctx, what, out, ref_name = "", stats = None, mnemonic = "OciLayout"):
    """The action that writes `out`, a complete OCI layout of `ctx.attr.image`.

    Base layers come from `ctx.attr.image_full` (the image through full_pull_transition), hard-linked
    where the filesystem allows; everything else from the default-configuration `image`, so the
    image's own actions run once. A shallow base without `pulled_base` fails at analysis.

    Args:
        ctx: the context of a rule with `image` and `image_full` attributes.
        what: what the layout is for, for the error message ("a complete layout", "a tarball").
        out: the declared directory.
        ref_name: org.opencontainers.image.ref.name of the index.json entry ("" for none).
        stats: a declared file for {blobs, linked, copied, bytes}, or None.
        mnemonic: the action's mnemonic.
    """
    info = ctx.attr.image[OciImageInfo]
    full = ctx.attr.image_full[0][OciImageInfo]
    missing = full.missing.to_list()
    if missing:
        fail("%s: cannot write %s of %s: %s" % (pretty(ctx.label), what, pretty(ctx.attr.image.label), "; ".join(missing)))
    args = ctx.actions.args()
    args.add("layout")
    args.add("--output", out.path)
    args.add("--descriptor", info.descriptor)
    if ref_name:
        args.add("--ref-name", ref_name)
    blobs = info.blobs.to_list()
    layers = info.layers.to_list()
    pulled = full.pulled_blobs.to_list()
    args.add_all(blobs, before_each = "--blob")
    args.add_all(["%s=%s" % (layer.info.path, layer.blob.path) for layer in layers], before_each = "--layer")
    args.add_all(pulled, before_each = "--named-blob")
    args.add("--missing-hint", "set pulled_base on each oci_image whose base is an oci.pull (see %s)" % pretty(ctx.label))
    if stats:
        args.add("--stats", stats)
    run_ociutil(
        ctx,
        mnemonic = mnemonic,
        progress_message = "Writing the OCI layout of %{label}",
        arguments = [args],
        inputs = depset(
            [info.descriptor] + [layer.info for layer in layers] + [layer.blob for layer in layers] + blobs + pulled,
        ),
        outputs = [out] + ([stats] if stats else []),
    )

def layout_for(name, image, testonly = False):
    """Declares the hidden oci_image_layout `<name>_/layout` of `image`, for a macro's test or rule.

    Args:
        name: the macro's target name.
        image: the image or index.
        testonly: as the macro's target.
    Returns:
        The layout target's name.
    """
    layout = name + "_/layout"
    oci_image_layout_rule(
        name = layout,
        image = image,
        image_full = image,
        ref_name = "latest",
        tags = ["manual"],
        visibility = ["//visibility:private"],
        testonly = testonly,
    )
    return layout

def _oci_image_layout_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    stats = declare_output(ctx, "stats.json")
    write_complete_layout(ctx, "a complete layout", out, ref_name = ctx.attr.ref_name, stats = stats)
    return [
        DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out])),
        # {blobs, linked, copied, bytes}: how the blobs got into the layout (hard links or copies).
        OutputGroupInfo(stats = depset([stats])),
    ]

oci_image_layout_rule = rule(
    implementation = _oci_image_layout_impl,
    doc = "See the `oci_image_layout` macro in //oci:defs.bzl.",
    attrs = dict(OCIUTIL_ATTRS, **{
        "image": attr.label(providers = [OciImageInfo], mandatory = True),
        "image_full": attr.label(providers = [OciImageInfo], mandatory = True, cfg = full_pull_transition),
        "ref_name": attr.string(default = "latest"),
    }),
    toolchains = [NODE_TOOLCHAIN_TYPE],
)
