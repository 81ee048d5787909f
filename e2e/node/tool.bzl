"""`tool`: an executable target made without a C++ toolchain (sh_binary's launcher needs one for every execution platform)."""

def _tool_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.write(out, "#!/bin/sh\necho %s\n" % ctx.label.name, is_executable = True)
    return [DefaultInfo(executable = out, files = depset([out]))]

tool = rule(
    implementation = _tool_impl,
    executable = True,
)
