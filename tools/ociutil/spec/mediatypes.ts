/** Media types of the OCI image spec and of Docker's schema2, which registries still serve. */
export const MediaType = {
  OciImageIndex: "application/vnd.oci.image.index.v1+json",
  OciImageManifest: "application/vnd.oci.image.manifest.v1+json",
  OciImageConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciNondistributableLayer: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OciNondistributableLayerGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OciNondistributableLayerZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  OciEmpty: "application/vnd.oci.empty.v1+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.OciImageIndex, MediaType.DockerManifestList];
export const IMAGE_MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.OciImageManifest, MediaType.DockerManifest];
export const MANIFEST_MEDIA_TYPES: readonly string[] = [...INDEX_MEDIA_TYPES, ...IMAGE_MANIFEST_MEDIA_TYPES];

/** Layer media types whose bytes are a (possibly compressed) filesystem changeset. */
export const LAYER_MEDIA_TYPES: readonly string[] = [
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.OciNondistributableLayer,
  MediaType.OciNondistributableLayerGzip,
  MediaType.OciNondistributableLayerZstd,
  MediaType.DockerLayerGzip,
  MediaType.DockerForeignLayerGzip,
];

export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.OciImageConfig, MediaType.DockerConfig];

/** The Accept header for manifest GET/HEAD: OCI first, then Docker schema2 (distribution 2.8 404s an
 *  OCI manifest unless its type is listed). */
export const MANIFEST_ACCEPT = [
  MediaType.OciImageIndex,
  MediaType.OciImageManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
].join(", ");

export const isIndexMediaType = (mt: string | undefined): boolean => mt !== undefined && INDEX_MEDIA_TYPES.includes(mt);
export const isImageManifestMediaType = (mt: string | undefined): boolean =>
  mt !== undefined && IMAGE_MANIFEST_MEDIA_TYPES.includes(mt);
