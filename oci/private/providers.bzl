"""Providers of rules_ociutil: metadata about images and the files that hold their blobs."""

OciLayerInfo = provider(
    doc = "A layer built by oci_layer (or described from a tar): its blob and the JSON that describes it.",
    fields = {
        "blob": "File: the layer's bytes (tar or tar+gzip).",
        "info": "File: JSON {descriptor: {mediaType, digest, size}, diffID} written by `ociutil layer`.",
    },
)

OciImageInfo = provider(
    doc = """An image or an index, as metadata: which files hold which blobs, and what is not local.

Rules pass this provider along instead of copying bytes: oci_image_index merges those of its
images, oci_image_layout links the files it names into a directory, a push can mount the
blobs no file holds from `sources`.""",
    fields = {
        "kind": "\"image\" or \"index\".",
        "descriptor": "File: JSON descriptor of the manifest or index (mediaType, digest, size, platform).",
        "manifest": "File: the exact bytes of the image manifest or of the index.",
        "config": "File or None: the exact bytes of the image config (images only).",
        "display": "string or None: how users name a pulled image, e.g. `@base//:linux_amd64 (oci.pull \"base\")`.",
        "digest": "string or None: the manifest digest when it is known at analysis (pulled images).",
        "platform": "string or None: \"os/arch[/variant]\" when known at analysis.",
        "blobs": "depset of File: manifests, indexes and configs reachable from this one (hashed when assembled).",
        "layers": "depset of struct(info, blob): built layers reachable from this one.",
        "pulled_blobs": "depset of File: blob files of full pulls, named blobs/<alg>/<hex>.",
        "missing": "depset of string: one line per shallow base whose layers no file holds (empty when complete).",
        "sources": "depset of string: \"registry/repo\" of the pulled bases, where blobs missing locally live.",
        "pulled": "dict or None: for a pulled image or index, what the pull resolved: {repository, digest, tag?, platform?}.",
        "bases": "list of dict: the pulled images this one is built on, each as `pulled`, nearest first (an image on an image on a pull lists the pull; an index lists its images' bases and the pulled images it holds, each once). The `bases` of `ociutil provenance`'s build description.",
    },
)
