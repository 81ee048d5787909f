"""Stamping: whether a target reads Bazel's workspace status files (`stamp = -1/0/1`, bazel-lib's convention).

`stamp = 1` always stamps, `0` never, `-1` (the default) follows `--[no]stamp`, which the rule learns
from `//oci/private:stamp` (a `config_setting` on `//command_line_option:stamp`, as rules_go and
bazel-lib do). Only a stamped action gets the status files as inputs, so an unstamped build is the
same actions as before and a cache hit.
"""

OciStampInfo = provider(
    doc = "Whether --stamp is on.",
    fields = {"value": "bool"},
)

def _oci_stamp_setting_impl(ctx):
    return [OciStampInfo(value = ctx.attr.value)]

oci_stamp_setting = rule(
    implementation = _oci_stamp_setting_impl,
    doc = "Carries --stamp into rules (set `value` with a select on a config_setting of the stamp option).",
    attrs = {"value": attr.bool()},
)

STAMP_ATTRS = {
    "stamp": attr.int(
        default = -1,
        values = [-1, 0, 1],
        doc = "Expand `{{KEY}}` from --workspace_status_command values: 1 always, 0 never, -1 when Bazel runs with --stamp.",
    ),
    "_stamp_flag": attr.label(
        default = Label("//oci/private:stamp"),
        providers = [OciStampInfo],
    ),
}

def status_files(ctx):
    """The workspace status files when this target stamps, else [].

    Args:
        ctx: the rule context (with STAMP_ATTRS).
    Returns:
        [stable-status.txt, volatile-status.txt] or [].
    """
    stamp = ctx.attr.stamp == 1 or (ctx.attr.stamp == -1 and ctx.attr._stamp_flag[OciStampInfo].value)
    return [ctx.info_file, ctx.version_file] if stamp else []

def status_args(files):
    """`--status FILE` for each status file.

    Args:
        files: what status_files returned.
    Returns:
        A list of strings.
    """
    out = []
    for f in files:
        out.extend(["--status", f.path])
    return out
