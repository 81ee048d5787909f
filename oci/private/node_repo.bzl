"""A repository that holds the host's Node.js as an `oci_node_toolchain`."""

_NO_NODE = ("rules_ociutil runs its tool with Node.js (>= 20), and found none: no `node` on PATH when Bazel " +
            "started. Fix: install Node.js, or point at one with `node.host(path = \"/path/to/node\")` in " +
            "MODULE.bazel or --repo_env=OCIUTIL_NODE=/path/to/node, or register your own oci_node_toolchain.")

# The pinned Node of each platform Bazel itself may run on (node_dist.bzl), for repository rules:
# they run where Bazel runs. Visible here through rules_ociutil's own use_repo of the node extension.
_PINNED_HOST_NODE = {
    ("linux", "amd64"): Label("@ociutil_node_linux_amd64//:bin/node"),
    ("linux", "arm64"): Label("@ociutil_node_linux_arm64//:bin/node"),
    ("macos", "amd64"): Label("@ociutil_node_darwin_amd64//:bin/node"),
    ("macos", "arm64"): Label("@ociutil_node_darwin_arm64//:bin/node"),
}

def _pinned_host_node(rctx):
    os = "macos" if rctx.os.name.startswith("mac") else rctx.os.name
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(rctx.os.arch, rctx.os.arch)
    label = _PINNED_HOST_NODE.get((os, arch))
    return rctx.path(label) if label else None

def find_node(rctx, path = "", pinned = False):
    """The path of the Node.js to use in a repository rule, or None.

    Order: $OCIUTIL_NODE, the `path` given, then (with `pinned`) the pinned Node of the machine
    Bazel runs on, downloaded like the actions' own, else `node` on PATH.

    Args:
        rctx: repository_ctx.
        path: an explicit path, or "".
        pinned: whether the pinned Node may be used.
    Returns:
        A path, or None.
    """
    for candidate in [rctx.os.environ.get("OCIUTIL_NODE", ""), path]:
        if candidate:
            p = rctx.path(candidate)
            if not p.exists:
                fail("rules_ociutil: Node.js at %s does not exist. Fix: point OCIUTIL_NODE or node.host(path) at a node executable." % candidate)
            return p
    node = _pinned_host_node(rctx) if pinned else None
    return node or rctx.which("node")

def no_node_message():
    return _NO_NODE

def node_version_problem(rctx, node):
    """Why `node` cannot run ociutil (too old, does not run), or None.

    Args:
        rctx: repository_ctx.
        node: the path of a node executable.
    Returns:
        A message, or None.
    """
    res = rctx.execute([node, "--version"], timeout = 30)
    version = res.stdout.strip()
    if res.return_code != 0 or not version.startswith("v"):
        return "rules_ociutil: %s --version failed (%s). Fix: point OCIUTIL_NODE or node.host(path) at a working Node.js >= 20." % (node, res.stderr.strip())
    major = version[1:].split(".")[0]
    if not major.isdigit() or int(major) < 20:
        return "rules_ociutil: %s is Node.js %s; ociutil needs >= 20. Fix: install a newer Node.js, or point OCIUTIL_NODE or node.host(path) at one." % (node, version)
    return None

def _node_host_repo_impl(rctx):
    node = find_node(rctx, rctx.attr.path)

    # Public: rules use the toolchain from other repositories (--incompatible_check_visibility_for_toolchains).
    build = ['load("%s", "oci_node_toolchain")' % Label("//oci/private:toolchain.bzl"), "", 'package(default_visibility = ["//visibility:public"])', ""]
    problem = _NO_NODE if not node else node_version_problem(rctx, node)
    if problem:
        build.append('oci_node_toolchain(name = "node", missing = %s)' % repr(problem))
    else:
        rctx.symlink(node, "bin/node")
        build.append('oci_node_toolchain(name = "node", node = "bin/node")')
    build.append("")
    build.append("""toolchain(
    name = "node_toolchain",
    toolchain = ":node",
    toolchain_type = "%s",
)
""" % Label("//oci:node_toolchain_type"))
    rctx.file("BUILD.bazel", "\n".join(build))

node_host_repo = repository_rule(
    implementation = _node_host_repo_impl,
    doc = "Finds Node.js on the host ($OCIUTIL_NODE, `path`, or PATH) and wraps it in a toolchain.",
    attrs = {
        "path": attr.string(doc = "Absolute path of a node executable; default: $OCIUTIL_NODE, else `node` on PATH."),
    },
    environ = ["OCIUTIL_NODE", "PATH"],
    local = True,
)
