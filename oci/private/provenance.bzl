"""Build provenance of oci_image and oci_image_index: what they were built from, for `ociutil provenance`.

The rule writes the build description (docs/provenance.md, "The build description") at analysis time
from its label, its attributes and the bases its OciImageInfo carries; one action turns it into the
in-toto Statement, reading the subjects' digests from the built descriptor and manifest. Both files
are in the `provenance` output group only, so a plain `bazel build` makes neither.
"""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":stamp.bzl", "status_args")
load(":toolchain.bzl", "run_ociutil")
load(":util.bzl", "declare_output", "pretty")

PROVENANCE_ATTRS = {
    "_builder_id": attr.label(
        default = Label("//oci:builder_id"),
        providers = [BuildSettingInfo],
    ),
}

# The OCI annotation keys (image-spec annotations.md) an image or index sets from attributes of the
# same name. The ruleset's own version is never one of them: it would change every digest on upgrade
# (ko #221); it goes into the provenance only.
# attribute -> key (`licenses` is a common attribute of every Bazel rule, so ours is `license`).
_OCI_KEYS = {"source": "source", "revision": "revision", "version": "version", "description": "description", "license": "licenses"}

OCI_KEY_ATTRS = {
    "source": attr.string(doc = "org.opencontainers.image.source: the URL of the source repository (GitHub's registry links the package to it). `{{KEY}}` stamp values allowed."),
    "revision": attr.string(doc = "org.opencontainers.image.revision: the source revision (e.g. \"{{STABLE_GIT_COMMIT}}\"). With `source`, also the provenance's source dependency."),
    "version": attr.string(doc = "org.opencontainers.image.version: the version of what is packaged (e.g. \"{{STABLE_VERSION}}\")."),
    "description": attr.string(doc = "org.opencontainers.image.description (GitHub's registry shows at most 512 characters)."),
    "license": attr.string(doc = "org.opencontainers.image.licenses: an SPDX expression, e.g. \"Apache-2.0\"."),
}

def oci_keys(ctx, created = False):
    """`org.opencontainers.image.<key>` → value for each of OCI_KEY_ATTRS (and `created`) the target sets.

    Args:
        ctx: the rule context.
        created: also `created`, from the attribute of that name.
    Returns:
        A dict.
    """
    out = {}
    for attr_name, key in dict(_OCI_KEYS, **({"created": "created"} if created else {})).items():
        value = getattr(ctx.attr, attr_name)
        if value:
            out["org.opencontainers.image." + key] = value
    return out

def provenance_source(ctx):
    """The build description's `source` when the target sets both `source` and `revision`, else None.

    Args:
        ctx: the rule context (with OCI_KEY_ATTRS).
    Returns:
        {url, revision} or None.
    """
    if ctx.attr.source and ctx.attr.revision:
        return {"url": ctx.attr.source, "revision": ctx.attr.revision}
    return None

def merge_bases(infos):
    """The bases of an image or index made of `infos` (OciImageInfo): each pulled image, then its bases, once each.

    Args:
        infos: the OciImageInfo of a base, or of each image of an index.
    Returns:
        A list of dicts {repository, digest, tag?, platform?}.
    """
    out = []
    seen = {}
    for info in infos:
        # getattr: an OciImageInfo made by a rule that predates these fields has neither.
        pulled = getattr(info, "pulled", None)
        for b in ([pulled] if pulled else []) + getattr(info, "bases", []):
            key = "%s@%s" % (b["repository"], b["digest"])
            if key not in seen:
                seen[key] = True
                out.append(b)
    return out

def _label_string(label):
    """A label as users write it, with a module extension's repository by its own name.

    Bazel gives aliases' actual labels, in canonical form: `@@rules_ociutil~~oci~base//:linux_amd64`
    (Bazel 7; `+` in Bazel 8) is `@base//:linux_amd64`. Canonical names are not stable across Bazel
    versions, so they must not reach a statement meant to be compared.
    """
    s = pretty(label)
    if s.startswith("@@"):
        repo, rest = s[2:].split("//", 1)
        for sep in ["~", "+"]:
            if sep in repo:
                repo = repo.split(sep)[-1]
        s = "@%s//%s" % (repo, rest)
    return s

def _attribute_value(value):
    """An attribute as written in a BUILD file: labels as strings, lists and dicts as JSON."""
    if type(value) == "Target":
        return _label_string(value.label)
    if type(value) == "list":
        return [_label_string(v.label) if type(v) == "Target" else v for v in value]
    return value

def shaping_attributes(ctx, names):
    """The attributes among `names` that this target sets (not empty), as JSON values.

    Args:
        ctx: the rule context.
        names: attribute names.
    Returns:
        A dict.
    """
    out = {}
    for name in names:
        value = getattr(ctx.attr, name)
        if value == None or value == "" or value == [] or value == {}:
            continue
        out[name] = _attribute_value(value)
    return out

def provenance_output(ctx, descriptor, manifest, attributes, bases, source, status):
    """Declares `<name>_/build.json` and `<name>_/provenance.json` and the action that makes the statement.

    Args:
        ctx: the rule context (with PROVENANCE_ATTRS and the ociutil attributes).
        descriptor: File, the built manifest's descriptor.
        manifest: File, the built manifest's bytes.
        attributes: dict, the attributes that shaped the image.
        bases: list of dicts, the pulled bases.
        source: {url, revision} or None (may hold `{{KEY}}`, expanded from `status`).
        status: the workspace status files when stamping, else [].
    Returns:
        The provenance File.
    """
    build = {
        "name": pretty(ctx.label),
        "externalParameters": {"target": pretty(ctx.label), "attributes": attributes},
        "bases": bases,
        "builder": {"id": ctx.attr._builder_id[BuildSettingInfo].value},
    }
    if source:
        build["source"] = source
    if status:
        # A stamped build's start (BUILD_TIMESTAMP, from volatile-status.txt): the only time in a
        # statement, and only when stamping is on.
        build["metadata"] = {"startedOn": "{{BUILD_TIMESTAMP}}"}
    build_file = declare_output(ctx, "build.json")
    ctx.actions.write(build_file, json.encode_indent(build) + "\n")
    out = declare_output(ctx, "provenance.json")
    run_ociutil(
        ctx,
        mnemonic = "OciProvenance",
        progress_message = "Writing the provenance of %{label}",
        arguments = ["provenance", "--build", build_file.path, "--descriptor", descriptor.path, "--manifest", manifest.path, "-o", out.path] + status_args(status),
        inputs = depset([build_file, descriptor, manifest] + status),
        outputs = [out],
    )
    return out
