"""oci_sbom: the packages installed in an image (dpkg, apk) as an SPDX 2.3 or CycloneDX 1.5 JSON file."""

load(":layout.bzl", "layout_for")
load(":toolchain.bzl", "NODE_TOOLCHAIN_TYPE", "OCIUTIL_ATTRS", "run_ociutil")
load(":util.bzl", "declare_output", "pretty")

_EXTENSIONS = {
    "cyclonedx-json": "cdx.json",
    "spdx-json": "spdx.json",
}

def _oci_sbom_impl(ctx):
    files = ctx.files.layout
    if len(files) != 1 or not files[0].is_directory:
        fail("%s: layout must be one directory (an oci_image_layout), %s gives %d file(s)" % (pretty(ctx.label), pretty(ctx.attr.layout.label), len(files)))
    out = declare_output(ctx, "sbom." + _EXTENSIONS[ctx.attr.format])
    args = ctx.actions.args()
    args.add("sbom")
    args.add(files[0].path)
    args.add("--format", ctx.attr.format)
    args.add("--output", out)
    if ctx.attr.platform:
        args.add("--platform", ctx.attr.platform)
    run_ociutil(
        ctx,
        mnemonic = "OciSbom",
        progress_message = "Listing the packages of %{label}",
        arguments = [args],
        inputs = depset(files),
        outputs = [out],
    )
    return [DefaultInfo(files = depset([out]))]

oci_sbom_rule = rule(
    implementation = _oci_sbom_impl,
    doc = "See the `oci_sbom` macro in //oci:defs.bzl.",
    attrs = dict(OCIUTIL_ATTRS, **{
        "format": attr.string(default = "spdx-json", values = sorted(_EXTENSIONS.keys())),
        "layout": attr.label(allow_files = True, mandatory = True),
        "platform": attr.string(),
    }),
    toolchains = [NODE_TOOLCHAIN_TYPE],
)

def oci_sbom(name, image, format = "spdx-json", platform = None, **kwargs):
    """The packages installed in `image`, read from its complete layout: an SBOM file, no scanner.

    Lists Debian packages (/var/lib/dpkg/status and distroless's /var/lib/dpkg/status.d/) and Alpine
    packages (/lib/apk/db/installed) of the image's final filesystem, with purls, the image's digest
    and no timestamp (the same image gives the same bytes). The file is `<name>_/sbom.spdx.json` (or
    `sbom.cdx.json`). The base image's layers are needed, so an oci.pull base needs `pulled_base`,
    as for oci_image_layout. See docs/cli/sbom.md.

    Args:
        name: the target name.
        image: an oci_image, or an oci_image_index with `platform`.
        format: "spdx-json" (SPDX 2.3) or "cyclonedx-json" (CycloneDX 1.5).
        platform: "os/arch[/variant]": the image of an index to list.
        **kwargs: common attributes (tags, visibility, testonly, ...).
    """
    layout = layout_for(name, image, testonly = kwargs.get("testonly", False))
    oci_sbom_rule(
        name = name,
        layout = layout,
        format = format,
        platform = platform or "",
        **kwargs
    )
