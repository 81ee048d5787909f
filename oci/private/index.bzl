"""oci_image_index: a multi-platform index of images."""

load(":provenance.bzl", "OCI_KEY_ATTRS", "PROVENANCE_ATTRS", "merge_bases", "oci_keys", "provenance_output", "provenance_source", "shaping_attributes")
load(":providers.bzl", "OciImageInfo")
load(":stamp.bzl", "STAMP_ATTRS", "status_args", "status_files")
load(":toolchain.bzl", "NODE_TOOLCHAIN_TYPE", "OCIUTIL_ATTRS", "run_ociutil")
load(":util.bzl", "declare_output", "pretty")

def _oci_image_index_impl(ctx):
    infos = [t[OciImageInfo] for t in ctx.attr.images]
    for t, info in zip(ctx.attr.images, infos):
        if info.kind != "image":
            fail("%s: images: %s is an index; an index lists images (nested indexes are not supported)" % (pretty(ctx.label), pretty(t.label)))
    index = declare_output(ctx, "index.json")
    descriptor = declare_output(ctx, "descriptor.json")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")  # rules_oci's path, as for oci_image
    args = ["index", "--target", pretty(ctx.label)]
    for info in infos:
        args.extend(["--manifest", info.descriptor.path])

    # The OCI keys (the index's description is what GitHub's registry shows for a multi-platform
    # image), then the user's annotations over them.
    for k, v in dict(oci_keys(ctx, created = True), **ctx.attr.annotations).items():
        args.extend(["--annotation", "%s=%s" % (k, v)])
    status = status_files(ctx)
    args.extend(status_args(status))
    inputs = [info.descriptor for info in infos] + status
    if ctx.file.annotations_file:
        args.extend(["--annotations-file", ctx.file.annotations_file.path])
        inputs.append(ctx.file.annotations_file)
    args.extend(["--output-index", index.path, "--output-descriptor", descriptor.path, "--output-digest", digest.path])
    run_ociutil(
        ctx,
        mnemonic = "OciIndex",
        progress_message = "Assembling index %{label}",
        arguments = args,
        inputs = depset(inputs),
        outputs = [index, descriptor, digest],
    )
    bases = merge_bases(infos)
    provenance = provenance_output(ctx, descriptor, index, shaping_attributes(ctx, ["images", "annotations", "annotations_file", "source", "revision", "version", "description", "license", "created"]), bases, provenance_source(ctx), status)
    return [
        DefaultInfo(files = depset([descriptor, index, digest])),
        OciImageInfo(
            kind = "index",
            descriptor = descriptor,
            manifest = index,
            config = None,
            display = None,
            digest = None,
            platform = None,
            blobs = depset([index], transitive = [i.blobs for i in infos]),
            layers = depset(transitive = [i.layers for i in infos]),
            pulled_blobs = depset(transitive = [i.pulled_blobs for i in infos]),
            missing = depset(transitive = [i.missing for i in infos]),
            sources = depset(transitive = [i.sources for i in infos]),
            pulled = None,
            bases = bases,
        ),
        OutputGroupInfo(
            descriptor = depset([descriptor]),
            digest = depset([digest]),
            provenance = depset([provenance]),
        ),
    ]

oci_image_index_rule = rule(
    implementation = _oci_image_index_impl,
    doc = "See the `oci_image_index` macro in //oci:defs.bzl. An OCI image index of `images` (one per platform). Carries its images' providers along, so an oci_image_layout of the index is complete when each image is.",
    attrs = dict(OCIUTIL_ATTRS, **dict(PROVENANCE_ATTRS, **dict(STAMP_ATTRS, **dict(OCI_KEY_ATTRS, **{
        "images": attr.label_list(
            doc = "The images (oci_image, or one platform of a pull), each with a distinct platform.",
            providers = [OciImageInfo],
            mandatory = True,
        ),
        "annotations": attr.string_dict(doc = "Annotations of the index."),
        "annotations_file": attr.label(allow_single_file = True, doc = "More annotations, from a file of name=value lines (inline ones win)."),
        "created": attr.string(doc = "org.opencontainers.image.created of the index (RFC 3339, or a {{KEY}} stamp value)."),
    })))),
    toolchains = [NODE_TOOLCHAIN_TYPE],
)
