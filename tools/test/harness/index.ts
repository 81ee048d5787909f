/** The test harness for the ociutil CLI: real registries, a fault-injecting proxy, peers, fixtures. */
export { startRegistry, type StartRegistryOptions, type TestRegistry, type RegistryAuth } from "./registry.js";
export {
  startTokenServer,
  decodeJwtClaims,
  parseScope,
  type TokenServer,
  type TokenServerOptions,
  type TokenRequestRecord,
  type AccessEntry,
} from "./token-server.js";
export { startFaultProxy, type FaultProxyOptions, type FaultProxy, type FaultRule, type FaultAction, type ProxyRequestRecord } from "./fault-proxy.js";
export {
  peer,
  findPeer,
  sidRootfs,
  runTool,
  mustRun,
  DEFAULT_SID_ROOTFS,
  type PeerName,
  type RunOptions,
  type RunResult,
} from "./peers.js";
export {
  buildTestImage,
  buildTestIndex,
  pushWithCrane,
  seedImage,
  dockerConfigEnv,
  blobPath,
  blobSize,
  MT,
  REF_NAME_ANNOTATION,
  type ImageSpec,
  type LayerSpec,
  type Platform,
  type Descriptor,
  type BuiltImage,
  type BuiltIndex,
  type RegistryLike,
  type PushOptions,
} from "./images.js";
export {
  ociutilBundle,
  runOciutil,
  mustRunOciutil,
  runOciutilWithPeakRss,
  runNodeWithPeakRss,
  BUNDLE_PATH,
  REPO_ROOT,
  type OciutilOptions,
} from "./cli.js";
export { startDockerd, podman, type Dockerd } from "./engines.js";
export { freePort, makeTempDir, pidsNaming, removeTempDir } from "./util.js";
export { logMark, servedSince, blobBytesServed, type ServedRequest } from "./registry-log.js";
export { BAZEL_FLAGS, BazelWorkspace, MountedCheckout, OUTPUT_USER_ROOT, ociRepoName } from "./bazel.js";
export { README, readmeBlock, readmeModule } from "./readme.js";
