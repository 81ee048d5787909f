"""Module extensions of rules_ociutil.

    oci = use_extension("@rules_ociutil//oci:extensions.bzl", "oci")
    oci.pull(name = "debian", image = "index.docker.io/library/debian", digest = "sha256:...", platforms = ["linux/amd64"])
    oci.pull_all(name = "debian_all", image = "index.docker.io/library/debian", digest = "sha256:...", platforms = ["linux/amd64"])
    use_repo(oci, "debian", "debian_all")

    node = use_extension("@rules_ociutil//oci:extensions.bzl", "node")
    node.host(path = "/opt/node/bin/node")   # optional: default $OCIUTIL_NODE, then `node` on PATH
"""

load("//oci/private:node_repo.bzl", "node_host_repo")
load("//oci/private:pull.bzl", "oci_platform_alias", "oci_pull", "oci_pull_all", "platform_target_name")

_PULL_ATTRS = {
    "name": attr.string(mandatory = True, doc = "The repository name: targets are @<name> (the default image, same as @<name>//:image), @<name>//:<os>_<arch>[_<variant>], @<name>//:index; and, for each of `platforms`, a repository @<name>_<os>_<arch>[_<variant>] (rules_oci's names)."),
    "image": attr.string(doc = "registry/repository[:tag]; or give `registry` and `repository` (rules_oci's other form)."),
    "registry": attr.string(doc = "With `repository`, instead of `image`: the registry, e.g. \"index.docker.io\"."),
    "repository": attr.string(doc = "With `registry`, instead of `image`: the repository[:tag], e.g. \"library/debian\"."),
    "bazel_tags": attr.string_list(doc = "Bazel tags of the generated targets, e.g. [\"manual\"] (rules_oci's `bazel_tags`)."),
    "digest": attr.string(doc = "sha256:... of the manifest or index (required unless allow_tag)."),
    "platforms": attr.string_list(doc = "Platforms to keep from an index; the first is :image."),
    "allow_tag": attr.bool(doc = "Allow a tag without digest; the digest to pin is printed."),
    "insecure": attr.bool(doc = "Plain HTTP to a registry that is not on this machine (loopback registries need no flag: TLS is tried, then plain HTTP)."),
    "downloader": attr.string(default = "bazel", values = ["bazel", "ociutil"], doc = "pull_all: \"bazel\" (default) fetches layers with Bazel's downloader (repository cache, --distdir, --downloader_config); \"ociutil\" with ociutil's own client."),
    "node_path": attr.string(doc = "The node to run ociutil with at fetch time."),
}

_pull = tag_class(attrs = _PULL_ATTRS, doc = "Manifests, configs and descriptors only (oci_pull).")
_pull_all = tag_class(attrs = _PULL_ATTRS, doc = "Every blob, verified by digest (oci_pull_all). Fetched only by targets that need it.")

def _image(kind, tag):
    """`image`, or `registry` + "/" + `repository`: exactly one of the two forms."""
    split = tag.registry or tag.repository
    if tag.image and split:
        fail("oci.%s \"%s\": give `image`, or `registry` and `repository`, not both" % (kind, tag.name))
    if split:
        if not (tag.registry and tag.repository):
            fail("oci.%s \"%s\": `registry` and `repository` go together (e.g. registry = \"index.docker.io\", repository = \"library/debian\")" % (kind, tag.name))
        return tag.registry.rstrip("/") + "/" + tag.repository.lstrip("/")
    if not tag.image:
        fail("oci.%s \"%s\": give `image` (\"registry/repository\"), or `registry` and `repository`" % (kind, tag.name))
    return tag.image

def _oci_impl(mctx):
    pinned = True
    for mod in mctx.modules:
        for kind, rule_fn in [("pull", oci_pull), ("pull_all", oci_pull_all)]:
            for tag in getattr(mod.tags, kind):
                image = _image(kind, tag)
                pinned = pinned and bool(tag.digest or "@" in image)
                rule_fn(
                    name = tag.name,
                    image = image,
                    bazel_tags = tag.bazel_tags,
                    digest = tag.digest,
                    platforms = tag.platforms,
                    allow_tag = tag.allow_tag,
                    insecure = tag.insecure,
                    downloader = tag.downloader,
                    node_path = tag.node_path,
                    display_name = tag.name,
                )

                # rules_oci names each platform's repository <name>_<os>_<arch>[_<variant>]: so do we.
                # Of a shallow pull it is an alias (fetching it costs a few small files). Of a full
                # pull it is a full pull of that platform alone, so a target that needs one
                # platform's layers (an oci_load of an amd64 image) fetches only those; Bazel's
                # repository cache keeps a blob fetched by both repositories once.
                for platform in tag.platforms:
                    alias = "%s_%s" % (tag.name, platform_target_name(platform))
                    if kind == "pull_all":
                        oci_pull_all(
                            name = alias,
                            image = image,
                            bazel_tags = tag.bazel_tags,
                            digest = tag.digest,
                            platforms = [platform],
                            allow_tag = tag.allow_tag,
                            insecure = tag.insecure,
                            downloader = tag.downloader,
                            node_path = tag.node_path,
                            display_name = alias,
                        )
                    else:
                        oci_platform_alias(
                            name = alias,
                            display_name = alias,
                            actual = "@%s//:%s" % (tag.name, platform_target_name(platform)),
                        )

    # Every repository is named by a digest: the same tags always make the same repositories, so
    # Bazel need not record them in MODULE.bazel.lock (and Bazel 8/9 may share them). A pull of a
    # tag (allow_tag) resolves differently over time, so it is not.
    return mctx.extension_metadata(reproducible = pinned)

oci = module_extension(
    implementation = _oci_impl,
    doc = "Pulls base images at fetch time: `oci.pull` (shallow) and `oci.pull_all` (every blob).",
    tag_classes = {"pull": _pull, "pull_all": _pull_all},
)

def _node_impl(mctx):
    path = ""
    for mod in mctx.modules:  # the root module comes first: its choice wins
        for tag in mod.tags.host:
            if not path and tag.path:
                path = tag.path
    node_host_repo(name = "ociutil_node", path = path)

node = module_extension(
    implementation = _node_impl,
    doc = "The Node.js that runs ociutil in actions: `node.host(path = ...)`, default $OCIUTIL_NODE, then `node` on PATH.",
    tag_classes = {"host": tag_class(attrs = {"path": attr.string(doc = "Absolute path of a node executable.")})},
)
