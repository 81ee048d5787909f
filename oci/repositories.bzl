"""Repository rules of rules_ociutil, for `use_repo_rule` (the `oci` module extension wraps them).

    oci_pull = use_repo_rule("@rules_ociutil//oci:repositories.bzl", "oci_pull")
    oci_pull(name = "distroless", image = "gcr.io/distroless/static", digest = "sha256:...", platforms = ["linux/amd64"])
"""

load("//oci/private:node_repo.bzl", _node_host_repo = "node_host_repo")
load("//oci/private:pull.bzl", _oci_pull = "oci_pull", _oci_pull_all = "oci_pull_all")

oci_pull = _oci_pull
oci_pull_all = _oci_pull_all
node_host_repo = _node_host_repo
