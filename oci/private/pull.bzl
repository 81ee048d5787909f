"""oci_pull and oci_pull_all: repository rules that run `ociutil pull` at fetch time.

oci_pull keeps manifests, configs and descriptors only (fast, small); oci_pull_all keeps every
blob, each verified against its digest while it downloads. Both write `layout/` (an OCI Image
Layout) and a BUILD file with one `oci_pulled_image` per platform, `:image` (the default: the first
platform) and, for an index pulled whole, `:index`.
"""

load(":node_repo.bzl", "find_node", "no_node_message", "node_version_problem")

_INDEX_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
]

def _blob(digest):
    alg, hex = digest.split(":", 1)
    return "layout/blobs/%s/%s" % (alg, hex)

def _platform_string(p):
    s = "%s/%s" % (p["os"], p["architecture"])
    if p.get("variant"):
        s += "/" + p["variant"]
    return s

def _target_name(platform):
    return platform.replace("/", "_").replace(".", "_")

def _who(rctx):
    kind = "pull_all" if rctx.attr._full else "pull"
    return "oci.%s \"%s\"" % (kind, rctx.attr.display_name or rctx.name)

def _display(rctx, target):
    name = rctx.attr.display_name or rctx.name
    return "@%s//:%s (oci.%s \"%s\")" % (name, target, "pull_all" if rctx.attr._full else "pull", name)

def _reference(rctx):
    image = rctx.attr.image
    digest = rctx.attr.digest
    if digest:
        if "@" in image:
            fail("%s: image \"%s\" already has a digest; give it in `digest` or in `image`, not both" % (_who(rctx), image))
        if not digest.startswith("sha256:") or len(digest) != 71:
            fail("%s: digest \"%s\" is not a sha256 digest (sha256:<64 hex>)" % (_who(rctx), digest))
        return image + "@" + digest, digest
    if "@" in image:
        return image, image.split("@", 1)[1]
    if not rctx.attr.allow_tag:
        fail(("%s: image \"%s\" has no digest, so the build is not reproducible. Fix: set digest = \"sha256:...\" " +
              "(`crane digest %s` prints it), or set allow_tag = True to resolve the tag at fetch time and print the line to pin it.") % (_who(rctx), image, image))
    return image, None

def _tag(image):
    """The tag of `image` as written ("registry/repo:tag[@digest]"), or None.

    A ":" in the last path segment is a tag ("debian:12", "reg:5000/app:v1"); in an earlier one it is
    a registry's port ("reg:5000/app").
    """
    last = image.split("@", 1)[0].split("/")[-1]
    if ":" in last:
        return last.split(":", 1)[1]
    return None

def _config_platform(config):
    """os/arch[/variant] from an image config, or None when it has none (go-containerregistry's empty image has "")."""
    if not config.get("os") or not config.get("architecture"):
        return None
    return _platform_string(config)

def _image_entry(rctx, desc):
    """struct describing one image manifest of the layout."""
    manifest = json.decode(rctx.read(_blob(desc["digest"])))
    config_digest = manifest["config"]["digest"]
    platform = desc.get("platform")
    if platform:
        platform = _platform_string(platform)
    else:
        platform = _config_platform(json.decode(rctx.read(_blob(config_digest))))
    descriptor = {"digest": desc["digest"], "mediaType": desc["mediaType"], "size": desc["size"]}
    if platform:
        parts = platform.split("/")
        descriptor["platform"] = {"architecture": parts[1], "os": parts[0]}
        if len(parts) > 2:
            descriptor["platform"]["variant"] = parts[2]
    return struct(
        # An image with no platform is the repository's only image: it is :image itself.
        name = _target_name(platform) if platform else "image",
        platform = platform,
        digest = desc["digest"],
        descriptor = descriptor,
        manifest = _blob(desc["digest"]),
        config = _blob(config_digest),
        layers = [_blob(layer["digest"]) for layer in manifest.get("layers", [])],
    )

def _alias(name, actual):
    return "alias(\n    name = %s,\n    actual = %s,\n)\n" % (repr(name), repr(":" + actual))

def _pulled_rule(name, kind, digest, platform, descriptor_file, manifest, config, blobs, layers, full, source, display, tag, bazel_tags):
    lines = [
        "oci_pulled_image(",
        "    name = %s," % repr(name),
        "    kind = %s," % repr(kind),
        "    digest = %s," % repr(digest),
        "    source = %s," % repr(source),
        "    descriptor = %s," % repr(descriptor_file),
        "    manifest = %s," % repr(manifest),
    ]
    if platform:
        lines.append("    platform = %s," % repr(platform))
    if tag:
        lines.append("    tag = %s," % repr(tag))
    if config:
        lines.append("    config = %s," % repr(config))
    lines.append("    blobs = %s," % repr(blobs))
    if full:
        lines.append("    layers = %s," % repr(layers))
        lines.append("    full = True,")
    lines.append("    display = %s," % repr(display))
    if bazel_tags:
        lines.append("    tags = %s," % repr(bazel_tags))
    lines.append(")")
    return "\n".join(lines)

def _run_pull(rctx, who, node, ref, shallow, download_plan = False):
    """Runs `ociutil pull` into layout/; returns its --json result."""
    args = [node, rctx.path(Label("//oci/private:ociutil.mjs")), "pull", ref, "--output", "layout", "--json"]
    for p in rctx.attr.platforms:
        args.extend(["--platform", p])
    if shallow:
        args.append("--shallow")
    if download_plan:
        args.append("--download-plan")
    if rctx.attr.insecure:
        args.append("--insecure")
    res = rctx.execute(args, timeout = rctx.attr.timeout, quiet = True)
    if res.return_code != 0:
        msg = res.stderr.strip()
        if msg.startswith("ociutil: "):
            msg = msg[len("ociutil: "):]
        fail(("%s: could not pull %s: %s. Fix: check that the registry is reachable from this machine and that `image` " +
              "and `digest` are right; for a private registry, log in (docker login, or a credential helper in " +
              "~/.docker/config.json); for a plain-HTTP registry that is not on this machine, set insecure = True.") % (who, ref, msg))
    return json.decode(res.stdout)

def _download_layers(rctx, plan):
    """Fetches each blob of `plan` with Bazel's downloader, in parallel; returns the URLs that failed."""
    auth = {"type": "pattern", "pattern": plan["authorization"]} if plan.get("authorization") else None
    pending = []
    for blob in plan["blobs"]:
        kwargs = {"auth": {blob["url"]: auth}} if auth else {}
        pending.append((blob, rctx.download(
            url = blob["url"],
            output = _blob(blob["digest"]),
            sha256 = blob["digest"].split(":", 1)[1],
            allow_fail = True,
            block = False,
            **kwargs
        )))
    failed = []
    for blob, download in pending:
        res = download.wait()
        if not res.success:
            failed.append(blob["url"])
    return failed

def _oci_pull_impl(rctx):
    who = _who(rctx)
    full = rctx.attr._full
    node = find_node(rctx, rctx.attr.node_path, pinned = True)
    problem = no_node_message() if not node else node_version_problem(rctx, node)
    if problem:
        fail("%s: %s" % (who, problem))
    ref, pinned = _reference(rctx)
    rctx.delete("layout")
    by_bazel = full and rctx.attr.downloader == "bazel"
    if by_bazel:
        # Manifests and configs from ociutil; layers through Bazel's downloader (keyed by sha256: the
        # repository cache, --distdir, --downloader_config mirrors and remote downloaders apply).
        rctx.report_progress("Pulling manifests of %s" % ref)
        result = _run_pull(rctx, who, node, ref, shallow = True, download_plan = True)
        failed = _download_layers(rctx, result.pop("downloads"))
        if failed:
            # buildifier: disable=print
            print("%s: Bazel's downloader could not fetch %d layer(s) (%s); ociutil fetches them instead. Set downloader = \"ociutil\" to skip Bazel's downloader." % (who, len(failed), failed[0]))
            rctx.report_progress("Pulling the remaining layers of %s" % ref)
            _run_pull(rctx, who, node, result["reference"], shallow = False)
    else:
        rctx.report_progress("%s %s" % ("Pulling every blob of" if full else "Pulling manifests of", ref))
        result = _run_pull(rctx, who, node, ref, shallow = not full)
    source = result["reference"].split("@", 1)[0]
    if pinned and result["digest"] != pinned:
        fail("%s: %s resolved to %s, not the digest asked for" % (who, ref, result["digest"]))
    if not pinned:
        # buildifier: disable=print
        print("%s: %s resolved to %s. Pin it: oci.%s(name = \"%s\", image = \"%s\", digest = \"%s\", ...)" % (
            who,
            ref,
            result["digest"],
            "pull_all" if full else "pull",
            rctx.attr.display_name or rctx.name,
            rctx.attr.image,
            result["digest"],
        ))

    index = json.decode(rctx.read("layout/index.json"))
    images = []
    root_index = None
    for entry in index["manifests"]:
        if entry["mediaType"] in _INDEX_TYPES:
            root_index = entry
            children = json.decode(rctx.read(_blob(entry["digest"])))["manifests"]
            for child in children:
                if child["mediaType"] in _INDEX_TYPES or not child.get("platform"):
                    continue
                if child["platform"].get("os") == "unknown":
                    continue  # attestations
                images.append(_image_entry(rctx, child))
        else:
            images.append(_image_entry(rctx, entry))
    if not images:
        fail("%s: %s holds no image" % (who, ref))
    requested = {}  # target name of a platform as asked for ("linux/arm64") -> the image's ("linux_arm64_v8")
    if rctx.attr.platforms:
        # The requested order: the first platform is the default `:image`.
        ordered = []
        for p in rctx.attr.platforms:
            for img in images:
                if img.platform and (img.platform == p or img.platform.startswith(p + "/")) and img not in ordered:
                    ordered.append(img)
                    requested[_target_name(p)] = img.name
                    break
        images = ordered + [img for img in images if img not in ordered]

    # What this pull resolved, all from the one registry answer above: the reference as written (with
    # its tag), registry/repo@digest, and the digest of each platform kept. Provenance reads the same
    # values from the oci_pulled_image targets; this file is for people and scripts.
    tag = _tag(rctx.attr.image)
    resolved = {
        "reference": rctx.attr.image + ("@" + rctx.attr.digest if rctx.attr.digest else ""),
        "resolved": result["reference"],
        "platforms": {img.platform: img.digest for img in images if img.platform},
    }
    if tag:
        resolved["tag"] = tag
    rctx.file("resolved.json", json.encode_indent(resolved) + "\n")

    build = [
        "# Generated by rules_ociutil %s for %s" % ("oci_pull_all" if full else "oci_pull", ref),
        "load(\"%s\", \"oci_pulled_image\")" % Label("//oci/private:pulled.bzl"),
        "",
        "package(default_visibility = [\"//visibility:public\"])",
        "",
    ]
    seen = {}
    for img in images:
        if img.name in seen:
            continue
        seen[img.name] = True
        descriptor_file = img.name + ".descriptor.json"
        rctx.file(descriptor_file, json.encode(img.descriptor) + "\n")
        build.append(_pulled_rule(img.name, "image", img.digest, img.platform, descriptor_file, img.manifest, img.config, [img.manifest, img.config], img.layers, full, source, _display(rctx, img.name), tag, rctx.attr.bazel_tags))
        build.append("")
    if images[0].name != "image":
        build.append(_alias("image", images[0].name))
    for name, actual in requested.items():
        if name not in seen:
            seen[name] = True
            build.append(_alias(name, actual))
    if root_index:
        rctx.file("index.descriptor.json", json.encode({
            "digest": root_index["digest"],
            "mediaType": root_index["mediaType"],
            "size": root_index["size"],
        }) + "\n")
        blobs = [_blob(root_index["digest"])]
        layers = []
        for img in images:
            blobs.extend([img.manifest, img.config])
            layers.extend(img.layers)
        build.append(_pulled_rule("index", "index", root_index["digest"], None, "index.descriptor.json", _blob(root_index["digest"]), None, blobs, layers, full, source, _display(rctx, "index"), tag, rctx.attr.bazel_tags))
        build.append("")
    build.append("exports_files([\"resolved.json\"])\n")
    build.append("filegroup(\n    name = \"layout\",\n    srcs = glob([\"layout/**\"]),\n)\n")

    # `@<name>` is `@<name>//:<name>`: as in rules_oci, the repository's own name is its default image.
    own = rctx.attr.display_name or rctx.name
    if own not in seen and own not in ["image", "index", "layout"]:
        build.append(_alias(own, "image"))
    rctx.file("BUILD.bazel", "\n".join(build))
    return _reproducible(rctx) if pinned else None

def _reproducible(rctx):
    """Marks the repository reproducible where Bazel can record it (8.1 and later), else None.

    A repository pinned by digest is a function of its attributes alone: Bazel's repository-contents
    cache may keep and share it. Bazel 7 has no repo_metadata.

    Args:
        rctx: repository_ctx.
    Returns:
        What the implementation returns.
    """
    if hasattr(rctx, "repo_metadata"):
        return rctx.repo_metadata(reproducible = True)
    return None

_ATTRS = {
    "image": attr.string(mandatory = True, doc = "registry/repository[:tag], e.g. \"index.docker.io/library/debian\"."),
    "digest": attr.string(doc = "sha256:... of the manifest or index. Required unless allow_tag = True."),
    "platforms": attr.string_list(doc = "os/arch[/variant] to keep from an index, e.g. [\"linux/amd64\", \"linux/arm64\"]. The first is `:image`. Default: every platform."),
    "allow_tag": attr.bool(doc = "Allow a tag without a digest: resolved at fetch time, and the digest to pin is printed."),
    "insecure": attr.bool(doc = "Talk plain HTTP to the registry. Not needed on this machine: a registry on localhost, 127.0.0.0/8 or ::1 is tried over TLS, then plain HTTP."),
    "downloader": attr.string(
        default = "bazel",
        values = ["bazel", "ociutil"],
        doc = "oci_pull_all: who downloads the layers. \"bazel\": Bazel's downloader, keyed by sha256, so the repository cache, --distdir, --downloader_config and remote downloaders apply. \"ociutil\": ociutil's own client (no repository cache).",
    ),
    "node_path": attr.string(doc = "The node to run ociutil with at fetch time (default: $OCIUTIL_NODE, then `node` on PATH)."),
    "display_name": attr.string(doc = "The name the user gave (for messages)."),
    "timeout": attr.int(default = 3600, doc = "Seconds the pull may take."),
    "bazel_tags": attr.string_list(doc = "Bazel tags of the generated targets (rules_oci's `bazel_tags`), e.g. [\"manual\"]."),
}

def _oci_platform_alias_impl(rctx):
    rctx.file("BUILD.bazel", "\n".join([
        "# Generated by rules_ociutil: one platform of a pull, as its own repository (rules_oci's names).",
        "alias(",
        "    name = %s," % repr(rctx.attr.display_name),
        "    actual = %s," % repr(str(rctx.attr.actual)),
        "    visibility = [\"//visibility:public\"],",
        ")",
        "",
    ]))
    return _reproducible(rctx)

oci_platform_alias = repository_rule(
    implementation = _oci_platform_alias_impl,
    doc = "`@<pull>_<os>_<arch>[_<variant>]`: an alias of `@<pull>//:<os>_<arch>[_<variant>]`, the repository names rules_oci users write.",
    attrs = {
        "actual": attr.label(mandatory = True),
        "display_name": attr.string(mandatory = True),
    },
)

def platform_target_name(platform):
    """The target (and repository suffix) of a platform: "linux/arm64/v8" -> "linux_arm64_v8".

    Args:
        platform: os/arch[/variant].
    Returns:
        The name.
    """
    return _target_name(platform)

oci_pull = repository_rule(
    implementation = _oci_pull_impl,
    doc = "Pulls an image's manifests, configs and descriptors (no layers) with `ociutil pull --shallow`.",
    attrs = dict(_ATTRS, _full = attr.bool(default = False)),
    environ = ["OCIUTIL_NODE", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE"],
)

oci_pull_all = repository_rule(
    implementation = _oci_pull_impl,
    doc = "Pulls every blob of an image (each verified by digest) with `ociutil pull`. Fetched only by targets that need complete images.",
    attrs = dict(_ATTRS, _full = attr.bool(default = True)),
    environ = ["OCIUTIL_NODE", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE"],
)
