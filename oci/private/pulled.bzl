"""oci_pulled_image: the rule that oci_pull / oci_pull_all repositories use to expose what they pulled."""

load(":providers.bzl", "OciImageInfo")

def _oci_pulled_image_impl(ctx):
    display = ctx.attr.display or str(ctx.label)
    missing = []
    if not ctx.attr.full:
        missing.append("%s is a shallow pull: its layers are not local" % display)
    pulled = {"repository": ctx.attr.source, "digest": ctx.attr.digest}
    if ctx.attr.tag:
        pulled["tag"] = ctx.attr.tag
    if ctx.attr.platform:
        pulled["platform"] = ctx.attr.platform
    return [
        DefaultInfo(files = depset([ctx.file.descriptor, ctx.file.manifest])),
        OciImageInfo(
            kind = ctx.attr.kind,
            descriptor = ctx.file.descriptor,
            manifest = ctx.file.manifest,
            config = ctx.file.config,
            display = display,
            digest = ctx.attr.digest,
            platform = ctx.attr.platform or None,
            blobs = depset(ctx.files.blobs),
            layers = depset(),
            pulled_blobs = depset(ctx.files.layers),
            missing = depset(missing),
            sources = depset([ctx.attr.source]),
            pulled = pulled,
            bases = [],
        ),
    ]

oci_pulled_image = rule(
    implementation = _oci_pulled_image_impl,
    doc = "An image or index pulled by oci_pull (manifests and configs) or oci_pull_all (every blob). Written into the generated BUILD file of those repositories.",
    attrs = {
        "kind": attr.string(values = ["image", "index"], default = "image"),
        "digest": attr.string(mandatory = True, doc = "Digest of the manifest (or index)."),
        "platform": attr.string(doc = "os/arch[/variant] of an image."),
        "source": attr.string(mandatory = True, doc = "registry/repo the image was pulled from."),
        "tag": attr.string(doc = "The tag the pull was written with (resolved to `digest`), if any."),
        "descriptor": attr.label(allow_single_file = True, mandatory = True),
        "manifest": attr.label(allow_single_file = True, mandatory = True),
        "config": attr.label(allow_single_file = True),
        "blobs": attr.label_list(allow_files = True, doc = "Manifests, indexes and configs reachable from this one."),
        "layers": attr.label_list(allow_files = True, doc = "Layer blob files (full pulls only)."),
        "display": attr.string(doc = "How users name this target, for messages."),
        "full": attr.bool(doc = "True for oci_pull_all: every blob is local."),
    },
)
