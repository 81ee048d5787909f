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

def _oci_image_layout_impl(ctx):
    info = ctx.attr.image[OciImageInfo]
    full = ctx.attr.image_full[0][OciImageInfo]
    missing = full.missing.to_list()
    if missing:
        fail("%s: cannot write a complete layout of %s: %s" % (pretty(ctx.label), pretty(ctx.attr.image.label), "; ".join(missing)))

    out = ctx.actions.declare_directory(ctx.label.name)
    stats = declare_output(ctx, "stats.json")
    args = ctx.actions.args()
    args.add("layout")
    args.add("--output", out.path)
    args.add("--descriptor", info.descriptor)
    if ctx.attr.ref_name:
        args.add("--ref-name", ctx.attr.ref_name)
    blobs = info.blobs.to_list()
    layers = info.layers.to_list()
    pulled = full.pulled_blobs.to_list()
    args.add_all(blobs, before_each = "--blob")
    args.add_all(["%s=%s" % (layer.info.path, layer.blob.path) for layer in layers], before_each = "--layer")
    args.add_all(pulled, before_each = "--named-blob")
    args.add("--missing-hint", "set pulled_base on each oci_image whose base is an oci.pull (see %s)" % pretty(ctx.label))
    args.add("--stats", stats)
    run_ociutil(
        ctx,
        mnemonic = "OciLayout",
        progress_message = "Writing OCI layout %{label}",
        arguments = [args],
        inputs = depset(
            [info.descriptor] + [layer.info for layer in layers] + [layer.blob for layer in layers] + blobs + pulled,
        ),
        outputs = [out, stats],
    )
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
