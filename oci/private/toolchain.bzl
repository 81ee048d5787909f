"""The Node.js toolchain that runs ociutil, and the helper every rule uses to run it."""

load(":util.bzl", "pretty")

NODE_TOOLCHAIN_TYPE = str(Label("//oci:node_toolchain_type"))

def _oci_node_toolchain_impl(ctx):
    node = ctx.file.node
    if node == None and not ctx.attr.missing:
        fail("%s: set `node` (a Node.js >= 20 executable) or `missing`" % pretty(ctx.label))
    return [platform_common.ToolchainInfo(
        node = node,
        node_files = depset([node] if node else [], transitive = [ctx.attr.node[DefaultInfo].files] if ctx.attr.node else []),
        missing = ctx.attr.missing,
    )]

oci_node_toolchain = rule(
    implementation = _oci_node_toolchain_impl,
    doc = """A Node.js for ociutil. Wrap it in `toolchain(toolchain_type = "@rules_ociutil//oci:node_toolchain_type")`
and register it to use another Node than the host's (for example one from rules_nodejs).""",
    attrs = {
        "node": attr.label(
            doc = "The node executable (Node.js >= 20).",
            allow_single_file = True,
            executable = True,
            cfg = "exec",
        ),
        "missing": attr.string(
            doc = "Set instead of `node` when no Node was found: the error every rule using this toolchain reports.",
        ),
    },
)

def node_toolchain(ctx):
    """The Node toolchain of a rule, or fail() naming the target and the fix.

    Args:
        ctx: the rule context (the rule must declare NODE_TOOLCHAIN_TYPE in `toolchains`).
    Returns:
        The ToolchainInfo (node, node_files).
    """
    tc = ctx.toolchains[NODE_TOOLCHAIN_TYPE]
    if tc.missing:
        fail("%s: %s" % (pretty(ctx.label), tc.missing))
    return tc

def run_ociutil(ctx, mnemonic, progress_message, arguments, inputs, outputs):
    """Runs `node ociutil.mjs ARGS...` as an action. No shell and no default shell env are involved.

    Args:
        ctx: the rule context (with the `_ociutil` attribute and the Node toolchain).
        mnemonic: the action's mnemonic.
        progress_message: shown while it runs.
        arguments: list of Args or strings (after the subcommand's script).
        inputs: depset of File.
        outputs: list of File.
    """
    tc = node_toolchain(ctx)
    ctx.actions.run(
        executable = tc.node,
        arguments = [ctx.file._ociutil.path] + arguments,
        inputs = depset([ctx.file._ociutil], transitive = [inputs]),
        tools = tc.node_files,
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress_message,
        env = {"NODE_OPTIONS": ""},
        # Names the toolchain node comes from, so the action runs in that toolchain's execution
        # platform (Bazel's automatic exec groups; --incompatible_auto_exec_groups fails without it).
        toolchain = NODE_TOOLCHAIN_TYPE,
    )

OCIUTIL_ATTRS = {
    "_ociutil": attr.label(
        default = Label("//oci/private:ociutil.mjs"),
        allow_single_file = True,
    ),
}
