"""oci_image: an image from a base (pulled, or another oci_image), layers and config attributes."""

load(":provenance.bzl", "OCI_KEY_ATTRS", "PROVENANCE_ATTRS", "merge_bases", "oci_keys", "provenance_output", "provenance_source", "shaping_attributes")
load(":providers.bzl", "OciImageInfo", "OciLayerInfo")
load(":stamp.bzl", "STAMP_ATTRS", "status_args", "status_files")
load(":toolchain.bzl", "NODE_TOOLCHAIN_TYPE", "OCIUTIL_ATTRS", "run_ociutil")
load(":util.bzl", "declare_output", "pretty")

def _layer_structs(ctx):
    """struct(info, blob) for each entry of `layers`: an oci_layer, or tar files to describe."""
    out = []
    for i, target in enumerate(ctx.attr.layers):
        if OciLayerInfo in target:
            out.append(struct(info = target[OciLayerInfo].info, blob = target[OciLayerInfo].blob))
            continue
        for j, f in enumerate(target.files.to_list()):
            info = declare_output(ctx, "layer%d_%d.json" % (i, j))
            run_ociutil(
                ctx,
                mnemonic = "OciDescribeLayer",
                progress_message = "Describing layer %s of %%{label}" % f.short_path,
                arguments = ["layer", "--describe", f.path, "--info", info.path],
                inputs = depset([f]),
                outputs = [info],
            )
            out.append(struct(info = info, blob = f))
    return out

def _base_infos(ctx):
    """(base OciImageInfo or None, the `missing`, `pulled_blobs` and `sources` this image inherits)."""
    if not ctx.attr.base:
        if ctx.attr.pulled_base:
            fail("%s: pulled_base is set but base is not: set base to the oci.pull of the same image" % pretty(ctx.label))
        return None, depset(), depset(), depset()
    base = ctx.attr.base[OciImageInfo]
    if base.kind != "image":
        fail("%s: base %s is an image index; use one of its platforms (e.g. :linux_amd64 of the same repository, or :image)" % (
            pretty(ctx.label),
            base.display or pretty(ctx.attr.base.label),
        ))
    pulled = ctx.attr.pulled_base
    if not pulled:
        missing = base.missing
        if base.digest != None and base.missing:
            # A shallow pull used directly: name this image and the attribute that fixes it.
            missing = depset(["the base of %s, %s, is a shallow pull and %s has no pulled_base. Fix: add oci.pull_all(...) of the same image and digest to MODULE.bazel and set pulled_base = \"@<that name>//:<same platform>\" on %s" % (
                pretty(ctx.label),
                base.display,
                pretty(ctx.label),
                pretty(ctx.label),
            )])
        return base, missing, base.pulled_blobs, base.sources
    full = pulled[OciImageInfo]
    if base.digest == None:
        fail("%s: pulled_base is only for a base that is an oci.pull; %s is built here and carries its own blobs: remove pulled_base" % (pretty(ctx.label), pretty(ctx.attr.base.label)))
    if full.kind != "image":
        fail("%s: pulled_base %s is an image index; use the same platform as base %s" % (
            pretty(ctx.label),
            full.display or pretty(pulled.label),
            base.display,
        ))
    if full.missing:
        fail("%s: pulled_base %s is a shallow pull: it must be an oci.pull_all (every blob) of the same image as base %s" % (pretty(ctx.label), full.display, base.display))
    if full.digest != base.digest:
        fail("%s: pulled_base %s is %s but base %s is %s. Fix: make pulled_base the oci.pull_all of the same image, digest and platform as base" % (
            pretty(ctx.label),
            full.display,
            full.digest,
            base.display,
            base.digest,
        ))
    return base, depset(), full.pulled_blobs, base.sources

def _oci_image_impl(ctx):
    base, missing, pulled_blobs, sources = _base_infos(ctx)
    layers = _layer_structs(ctx)

    spec = {"target": pretty(ctx.label)}
    for key in ["entrypoint", "cmd", "exposed_ports", "volumes"]:
        value = getattr(ctx.attr, key)
        if value:
            spec[key] = value
    for key in ["env", "labels", "annotations"]:
        value = getattr(ctx.attr, key)
        if value:
            spec[key] = value

    # source, revision, version, description, licenses: config labels (what GitHub's registry reads on
    # a single-platform image) and manifest annotations; `created` an annotation too. What the user
    # writes in `labels`/`annotations` wins.
    keys = oci_keys(ctx, created = True)
    if keys:
        spec["labels"] = dict({k: v for k, v in keys.items() if not k.endswith(".created")}, **ctx.attr.labels)
        spec["annotations"] = dict(keys, **ctx.attr.annotations)
    for key in ["user", "workdir", "created", "os", "architecture", "variant", "stop_signal"]:
        value = getattr(ctx.attr, key)
        if value:
            spec[key] = value
    if base and base.sources:
        spec["base_name"] = base.sources.to_list()[0]
    attribute_files = []
    for key in ["env", "labels", "annotations", "entrypoint", "cmd", "created"]:
        f = getattr(ctx.file, key + "_file")
        if f:
            spec[key + "_file"] = f.path
            attribute_files.append(f)
    spec_file = declare_output(ctx, "spec.json")
    ctx.actions.write(spec_file, json.encode_indent(spec))

    manifest = declare_output(ctx, "manifest.json")
    config = declare_output(ctx, "config.json")
    descriptor = declare_output(ctx, "descriptor.json")

    # rules_oci's <name>.digest (beside the target, not in <name>_/: users script against this path).
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    status = status_files(ctx)
    args = ["image", "--spec", spec_file.path] + status_args(status)
    inputs = [spec_file] + attribute_files + status
    if base:
        args.extend(["--base-manifest", base.manifest.path, "--base-config", base.config.path])
        inputs.extend([base.manifest, base.config])
    for layer in layers:
        args.extend(["--layer", "%s=%s" % (layer.info.path, layer.blob.path)])
        inputs.append(layer.info)
    args.extend(["--output-manifest", manifest.path, "--output-config", config.path, "--output-descriptor", descriptor.path, "--output-digest", digest.path])
    run_ociutil(
        ctx,
        mnemonic = "OciImage",
        progress_message = "Assembling image %{label}",
        arguments = args,
        inputs = depset(inputs),
        outputs = [manifest, config, descriptor, digest],
    )
    bases = merge_bases([base] if base else [])
    provenance = provenance_output(ctx, descriptor, manifest, shaping_attributes(ctx, _SHAPING_ATTRS), bases, provenance_source(ctx), status)

    own_layers = [struct(info = layer.info, blob = layer.blob) for layer in layers]
    return [
        DefaultInfo(files = depset([descriptor, manifest, config, digest])),
        OciImageInfo(
            kind = "image",
            descriptor = descriptor,
            manifest = manifest,
            config = config,
            display = None,
            digest = None,
            platform = None,
            blobs = depset([manifest, config]),
            layers = depset(own_layers, transitive = [base.layers] if base else []),
            pulled_blobs = pulled_blobs,
            missing = missing,
            sources = sources,
            pulled = None,
            bases = bases,
        ),
        OutputGroupInfo(
            descriptor = depset([descriptor]),
            digest = depset([digest]),
            provenance = depset([provenance]),
            layers = depset([layer.blob for layer in layers]),
        ),
    ]

# What shaped the image: these go into the provenance's externalParameters.attributes when set.
_SHAPING_ATTRS = [
    "base",
    "layers",
    "entrypoint",
    "cmd",
    "env",
    "user",
    "workdir",
    "exposed_ports",
    "volumes",
    "labels",
    "annotations",
    "stop_signal",
    "created",
    "env_file",
    "labels_file",
    "annotations_file",
    "entrypoint_file",
    "cmd_file",
    "created_file",
    "os",
    "architecture",
    "variant",
    "source",
    "revision",
    "version",
    "description",
    "license",
]

oci_image_rule = rule(
    implementation = _oci_image_impl,
    doc = "See the `oci_image` macro in //oci:defs.bzl.",
    attrs = dict(OCIUTIL_ATTRS, **dict(PROVENANCE_ATTRS, **dict(STAMP_ATTRS, **dict(OCI_KEY_ATTRS, **{
        "base": attr.label(
            doc = "The base image: one platform of an oci.pull (e.g. \"@distroless//:image\"), or another oci_image. Empty: start from scratch.",
            providers = [OciImageInfo],
        ),
        "pulled_base": attr.label(
            doc = "The oci.pull_all of the same image as `base`; only fetched for targets that need the complete image (oci_image_layout).",
            providers = [OciImageInfo],
        ),
        "layers": attr.label_list(
            doc = "Layers on top of the base, in order: oci_layer targets, or tar / tar.gz files.",
            allow_files = [".tar", ".tar.gz", ".tgz"],
        ),
        "entrypoint": attr.string_list(doc = "Config.Entrypoint (replaces the base's)."),
        "cmd": attr.string_list(doc = "Config.Cmd (replaces the base's)."),
        "env": attr.string_dict(doc = "Environment variables, merged into the base's (same name: replaced)."),
        "user": attr.string(doc = "Config.User."),
        "workdir": attr.string(doc = "Config.WorkingDir."),
        "exposed_ports": attr.string_list(doc = "Ports such as \"8080\" or \"53/udp\" (default protocol tcp)."),
        "volumes": attr.string_list(doc = "Config.Volumes."),
        "labels": attr.string_dict(doc = "Config.Labels, merged into the base's."),
        "annotations": attr.string_dict(doc = "Manifest annotations."),
        "stop_signal": attr.string(doc = "Config.StopSignal."),
        "created": attr.string(doc = "The config's `created` and the new history entries' (RFC 3339). Default: the epoch, for reproducibility."),
        "env_file": attr.label(allow_single_file = True, doc = "`env` from a file: name=value a line (rules_oci's form)."),
        "labels_file": attr.label(allow_single_file = True, doc = "`labels` from a file: name=value a line."),
        "annotations_file": attr.label(allow_single_file = True, doc = "`annotations` from a file: name=value a line."),
        "entrypoint_file": attr.label(allow_single_file = True, doc = "`entrypoint` from a file: one argument a line."),
        "cmd_file": attr.label(allow_single_file = True, doc = "`cmd` from a file: one argument a line."),
        "created_file": attr.label(allow_single_file = True, doc = "`created` from a file of one line (e.g. made by a stamping step)."),
        "os": attr.string(doc = "Overrides the base's os (default \"linux\" without a base)."),
        "architecture": attr.string(doc = "Overrides the base's architecture; required without a base."),
        "variant": attr.string(doc = "CPU variant, e.g. \"v8\"."),
    })))),
    toolchains = [NODE_TOOLCHAIN_TYPE],
)
