"""The Node.js toolchain that runs ociutil, and the helper every rule uses to run it."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load("@platforms//host:constraints.bzl", "HOST_CONSTRAINTS")
load(":util.bzl", "pretty")

NODE_TOOLCHAIN_TYPE = str(Label("//oci:node_toolchain_type"))

# `bazel run` targets (push, promote) run on the machine that runs Bazel, not on an execution
# platform: their Node comes from this exec group, resolved for the host's OS and CPU, even when
# actions run on Linux workers (a macOS client must not get a Linux node in its runfiles).
HOST_EXEC_GROUP = "ociutil_host"
HOST_EXEC_GROUPS = {
    HOST_EXEC_GROUP: exec_group(
        exec_compatible_with = HOST_CONSTRAINTS,
        toolchains = [NODE_TOOLCHAIN_TYPE],
    ),
}

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
and register it to use another Node than the pinned ones (for example one from rules_nodejs):
docs/remote-execution.md.""",
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

def node_toolchain(ctx, host = False):
    """The Node toolchain of a rule, or fail() naming the target and the fix.

    Args:
        ctx: the rule context (the rule must declare NODE_TOOLCHAIN_TYPE in `toolchains`).
        host: the Node of the machine that runs Bazel, for a `bazel run` script (the rule must have
            HOST_EXEC_GROUPS in `exec_groups`), not the execution platform's.
    Returns:
        The ToolchainInfo (node, node_files).
    """
    tc = ctx.exec_groups[HOST_EXEC_GROUP].toolchains[NODE_TOOLCHAIN_TYPE] if host else ctx.toolchains[NODE_TOOLCHAIN_TYPE]
    if tc.missing:
        fail("%s: %s" % (pretty(ctx.label), tc.missing))
    return tc

# What makes an action a persistent worker's (worker/persistent-worker.ts): Bazel's JSON protocol,
# multiplexed (many requests in one Node process), in a sandbox directory per request under
# --experimental_worker_multiplex_sandboxing. Remote executors ignore these keys and run the
# same command line, `node ociutil.mjs @paramfile`, which ociutil expands as Bazel does.
_WORKER_REQUIREMENTS = {
    "supports-workers": "1",
    "supports-multiplex-workers": "1",
    "supports-multiplex-sandboxing": "1",
    "requires-worker-protocol": "json",
}

def _worker_arguments(ctx, arguments):
    """`arguments` as one Args in a param file (a worker takes its arguments that way), or None.

    None when a string argument would not survive Bazel's param-file round trip: a newline splits it
    into two arguments, and a leading `@` makes Bazel read it as another param file.
    """
    if len(arguments) == 1 and type(arguments[0]) == "Args":
        args = arguments[0]
    else:
        for a in arguments:
            if type(a) != "string" or "\n" in a or "\r" in a or a.startswith("@"):
                return None
        args = ctx.actions.args()
        args.add_all(arguments)
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    return args

def run_ociutil(ctx, mnemonic, progress_message, arguments, inputs, outputs):
    """Runs `node ociutil.mjs ARGS...` as an action. No shell and no default shell env are involved.

    The action runs in ociutil's persistent worker unless `--@rules_ociutil//oci:persistent_worker=false`
    (or Bazel picks another strategy: `--strategy=OciImage=sandboxed`, remote execution).

    Args:
        ctx: the rule context (with the `_ociutil` attribute and the Node toolchain).
        mnemonic: the action's mnemonic.
        progress_message: shown while it runs.
        arguments: list of strings, or a list of one Args (after the subcommand's script).
        inputs: depset of File.
        outputs: list of File.
    """
    tc = node_toolchain(ctx)
    worker_args = None
    if ctx.attr._persistent_worker[BuildSettingInfo].value:
        worker_args = _worker_arguments(ctx, arguments)
    ctx.actions.run(
        executable = tc.node,
        arguments = [ctx.file._ociutil.path] + ([worker_args] if worker_args else arguments),
        inputs = inputs,
        # A tool, not an input: a sandboxed worker gets its tools in the directory it starts in.
        tools = depset([ctx.file._ociutil], transitive = [tc.node_files]),
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress_message,
        env = {"NODE_OPTIONS": ""},
        execution_requirements = _WORKER_REQUIREMENTS if worker_args else {},
        # Names the toolchain node comes from, so the action runs in that toolchain's execution
        # platform (Bazel's automatic exec groups; --incompatible_auto_exec_groups fails without it).
        toolchain = NODE_TOOLCHAIN_TYPE,
    )

OCIUTIL_ATTRS = {
    "_persistent_worker": attr.label(
        default = Label("//oci:persistent_worker"),
        providers = [BuildSettingInfo],
    ),
    "_ociutil": attr.label(
        default = Label("//oci/private:ociutil.mjs"),
        allow_single_file = True,
    ),
}
