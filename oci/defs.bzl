"""Public API of rules_ociutil: build OCI images, indexes and layouts, and test them with scanners.

    load("@rules_ociutil//oci:defs.bzl", "oci_layer", "oci_image", "oci_image_index", "oci_image_layout", "oci_layout_test")

Promote images between registries with `oci_promote` (a promoter manifest, as kpromo reads it).
"""

load("//oci/private:image.bzl", "oci_image_rule")
load("//oci/private:index.bzl", "oci_image_index_rule")
load("//oci/private:layer.bzl", _oci_layer = "oci_layer")
load("//oci/private:layout.bzl", "layout_for", "oci_image_layout_rule")
load("//oci/private:layout_test.bzl", "oci_layout_rule_test")
load("//oci/private:load.bzl", _oci_load = "oci_load")
load("//oci/private:promote.bzl", _oci_promote = "oci_promote")
load("//oci/private:providers.bzl", _OciImageInfo = "OciImageInfo", _OciLayerInfo = "OciLayerInfo")
load("//oci/private:push.bzl", _oci_push = "oci_push")
load("//oci/private:sbom.bzl", _oci_sbom = "oci_sbom")
load("//oci/private:structure_test.bzl", _oci_structure_test = "oci_structure_test")
load("//oci/private:toolchain.bzl", _oci_node_toolchain = "oci_node_toolchain")

OciImageInfo = _OciImageInfo
OciLayerInfo = _OciLayerInfo
oci_layer = _oci_layer
oci_load = _oci_load
oci_node_toolchain = _oci_node_toolchain
oci_sbom = _oci_sbom
oci_structure_test = _oci_structure_test
oci_promote = _oci_promote

def oci_push(name, image, repository = None, repository_file = None, remote_tags = None, insecure = False, **kwargs):
    """`bazel run` target that pushes `image` (an image or index) to `repository` with `remote_tags`.

    Base layers are mounted (same registry) or streamed from the repository they were pulled from:
    neither building nor running this target fetches a full pull. As in rules_oci, `tags` are Bazel's
    tags of the target (e.g. "manual"), and the registry's tags are `remote_tags`.

    Args:
        name: the target name.
        image: an oci_image or oci_image_index.
        repository: "registry/repo".
        repository_file: instead of `repository`, a file holding "registry/repo" (read when it runs).
        remote_tags: tags to set in the registry: a list, or the label of a file of one tag a line.
        insecure: plain HTTP to a registry not on this machine (loopback needs no flag).
        **kwargs: attest (attach the image's SLSA provenance as a referrer), attest_key (an ECDSA
            P-256 PEM key to sign it with, for cosign), stamp (-1/0/1: expand {{KEY}} in
            remote_tags from --workspace_status_command), sbom (an oci_sbom to attach),
            image_refs (a file of what was pushed, crane's and ko's format), tekton_results (a
            directory for Tekton's IMAGE_URL, IMAGE_DIGEST, IMAGES), and common attributes. The
            same records are flags after `--`: `bazel run :push -- --image-refs FILE --json`.
    """
    if type(remote_tags) == "list":
        kwargs["remote_tags"] = remote_tags
    elif remote_tags != None:
        kwargs["remote_tags_file"] = remote_tags
    _oci_push(
        name = name,
        image = image,
        repository = repository or "",
        repository_file = repository_file,
        insecure = insecure,
        **kwargs
    )

def oci_image_index(name, images, annotations = None, **kwargs):
    """An OCI image index of `images` (one per platform).

    Args:
        name: the target name.
        images: oci_image targets (or platforms of a pull), each of a distinct platform.
        annotations: annotations of the index: a dict, or the label of a file of name=value lines.
        **kwargs: source, revision, version, description, license, created (OCI annotations of
            the index), stamp, and common attributes. Output group `provenance`.
    """
    if type(annotations) == "dict":
        kwargs["annotations"] = annotations
    elif annotations != None:
        kwargs["annotations_file"] = annotations
    oci_image_index_rule(name = name, images = images, **kwargs)

def _is_rfc3339(s):
    return len(s) >= 20 and s[4] == "-" and s[7] == "-" and s[10] == "T" and s[:4].isdigit()

def _value_or_file(kwargs, key, inline_type):
    """rules_oci lets env, labels, annotations, entrypoint and cmd be a value or a file's label."""
    value = kwargs.pop(key, None)
    if value == None:
        return
    if type(value) == inline_type:
        kwargs[key] = value
    elif type(value) == "string" or type(value) == "Label":
        kwargs[key + "_file"] = value
    else:
        fail("%s must be a %s or the label of a file, got %s" % (key, inline_type, type(value)))

def oci_image(name, base = None, pulled_base = None, layers = [], tars = [], **kwargs):
    """An OCI image: a base, layers on top, and config attributes.

    `pulled_base` is the oci.pull_all of the same image as `base` (an oci.pull). It is wrapped in a
    select() that only oci_image_layout's transition turns on, so `bazel build` of this image (or
    of a push of it) never fetches the full pull: only targets that need the complete image do.

    Args:
        name: the target name.
        base: an oci.pull platform target (e.g. "@debian//:image"), another oci_image, or None.
        pulled_base: the oci.pull_all of the same image as `base`, or None.
        layers: oci_layer targets or tar files, on top of the base in order.
        tars: more tar / tar.gz files, after `layers` (the name rules_oci uses).
        **kwargs: entrypoint, cmd, env, user, workdir, exposed_ports, volumes, labels,
            annotations, stop_signal, created, os, architecture, variant; source, revision,
            version, description, license (org.opencontainers.image.* labels and annotations);
            stamp (-1/0/1: expand {{KEY}} stamp values); and common attributes.
            As in rules_oci, env, labels and annotations may be a dict or the label of a file of
            name=value lines; entrypoint and cmd a list or a file of one argument a line; created an
            RFC 3339 time, a {{KEY}} stamp value, or the label of a file holding one.
            Output group `provenance`: `<name>_/provenance.json` (docs/provenance.md).
    """
    for key, inline_type in [("env", "dict"), ("labels", "dict"), ("annotations", "dict"), ("entrypoint", "list"), ("cmd", "list")]:
        _value_or_file(kwargs, key, inline_type)
    created = kwargs.pop("created", None)
    if created != None:
        is_value = type(created) == "string" and (_is_rfc3339(created) or "{{" in created)
        kwargs["created" if is_value else "created_file"] = created
    oci_image_rule(
        name = name,
        base = base,
        pulled_base = select({
            Label("//oci/private:full_pull_on"): pulled_base,
            "//conditions:default": None,
        }) if pulled_base else None,
        layers = layers + tars,
        **kwargs
    )

def oci_image_layout(name, image, ref_name = "latest", **kwargs):
    """A directory that is a complete OCI Image Layout of `image` (an image or an index).

    index.json names the image with `org.opencontainers.image.ref.name` = ref_name. Every blob is
    included: base layers come from the `pulled_base` of each oci_image (fetched only here). Blobs
    are hard-linked where the filesystem allows, else cloned or copied.

    Args:
        name: the target name (and the directory's name).
        image: an oci_image, oci_image_index, or a pulled image.
        ref_name: the ref name annotation of index.json's entry ("" for none).
        **kwargs: common attributes (tags, visibility, ...).
    """
    oci_image_layout_rule(
        name = name,
        image = image,
        image_full = image,
        ref_name = ref_name,
        **kwargs
    )

def oci_layout_test(name, scanner, layout = None, image = None, args = [], env = {}, data = [], **kwargs):
    """Runs `scanner` on an OCI layout as a test: trivy, grype, syft, umoci, or your own checks.

    The scanner gets the layout's absolute path in $OCI_LAYOUT_DIR and in its arguments: each
    "{layout}" in `args` is replaced by it; if none has it, it is the last argument.

    Args:
        name: the test's name.
        scanner: an executable target (sh_binary, a tool's binary, ...).
        layout: an oci_image_layout target. Give this or `image`.
        image: an image or index: an oci_image_layout named `<name>_/layout` is made for it.
        args: the scanner's arguments ($(location) is expanded against `data`).
        env: environment variables for the scanner.
        data: files the scanner needs at run time.
        **kwargs: common test attributes (size, tags, timeout, ...).
    """
    if (layout == None) == (image == None):
        fail("oci_layout_test %s: give exactly one of `layout` or `image`" % name)
    if image != None:
        layout = layout_for(name, image, testonly = True)
    oci_layout_rule_test(
        name = name,
        layout = layout,
        scanner = scanner,
        scanner_args = args,
        env = env,
        data = data,
        **kwargs
    )
