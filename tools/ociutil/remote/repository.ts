/**
 * One repository of a registry, speaking the distribution spec v1.1 API: manifests (GET/HEAD/PUT),
 * referrers, blobs (HEAD/GET, uploads monolithic or chunked, cross-repository mounts).
 * Status codes are checked here and turned into one-line errors that name the registry and the object.
 */
import type { Readable } from "node:stream";
import { digestOf, parseDigest, type Digest } from "../name/digest.js";
import { MANIFEST_ACCEPT, MediaType } from "../spec/mediatypes.js";
import { ImageIndexSchema, describeIssues, type Descriptor } from "../spec/schemas.js";
import { parseManifest, type Manifest } from "../spec/manifest.js";
import type { BodySink } from "../util/body-sink.js";
import { VerificationError } from "../util/errors.js";
import { repositoryScope } from "./auth.js";
import type { Registry } from "./registry.js";
import { RegistryError } from "./registry-error.js";
import { nextPage } from "./link.js";
import { MAX_ERROR_BODY, readCapped } from "./capped-body.js";
import { describeRequest, header, type HttpResponse, type RequestBody } from "./transport.js";

/** Manifests are small documents; distribution caps them at 4 MiB. Don't buffer more than that. */
const MAX_MANIFEST_BYTES = 4 << 20;

export interface ManifestHead {
  digest: Digest;
  mediaType: string | undefined;
  size: number | undefined;
}

export type MountResult = { mounted: true } | { mounted: false; uploadUrl: URL };

export class RemoteRepository {
  constructor(
    readonly registry: Registry,
    readonly name: string,
    private readonly access: "pull" | "push" = "pull",
  ) {}

  private get pullScope(): string[] {
    return [repositoryScope(this.name, this.access === "push" ? "pull,push" : "pull")];
  }
  private get pushScope(): string[] {
    return [repositoryScope(this.name, "pull,push")];
  }

  /** The base URL of this repository's blobs (…/v2/<name>/blobs/), once the scheme is known. */
  async blobsUrl(): Promise<URL> {
    return new URL(`v2/${this.name}/blobs/`, await this.registry.resolvedBase());
  }

  /** The Authorization header value that pulls from this repository, if the registry asked for one. */
  async pullAuthorization(): Promise<string | undefined> {
    return await this.registry.authorizationFor(this.pullScope);
  }

  /** "registry/repo" for messages. */
  get fullName(): string {
    return `${this.registry.host}/${this.name}`;
  }

  private path(kind: "manifests" | "blobs", ref: string): URL {
    return this.registry.url(`/v2/${this.name}/${kind}/${ref}`);
  }

  /** GET a manifest by tag or digest; by digest, the bytes must hash to it. */
  async getManifest(identifier: string): Promise<Manifest> {
    const url = this.path("manifests", identifier);
    const res = await this.registry.send({ method: "GET", url, headers: { accept: MANIFEST_ACCEPT } }, this.pullScope);
    await this.expect(res, [200], `manifest ${this.fullName}:${identifier}`);
    const declaredLength = Number(header(res, "content-length") ?? "0");
    if (declaredLength > MAX_MANIFEST_BYTES) {
      await res.body.dump().catch(() => undefined);
      throw new RegistryError(`manifest ${this.fullName}:${identifier} is ${declaredLength} bytes, more than the 4 MiB a manifest may have`);
    }
    const bytes = await readCapped(res.body, MAX_MANIFEST_BYTES, `manifest ${this.fullName}:${identifier}`);
    const what = `${this.fullName}@${digestOf(bytes)}`;
    const manifest = parseManifest(bytes, header(res, "content-type"), what);
    if (identifier.includes(":")) {
      const want = parseDigest(identifier);
      const got = digestOf(bytes, want.startsWith("sha512:") ? "sha512" : "sha256");
      if (got !== want) throw new VerificationError(`manifest ${this.fullName}@${want}: registry sent content with digest ${got}`);
    } else {
      const claimed = header(res, "docker-content-digest");
      if (claimed !== undefined && claimed.startsWith("sha256:") && claimed !== manifest.digest) {
        throw new VerificationError(`manifest ${this.fullName}:${identifier}: Docker-Content-Digest ${claimed} does not match content ${manifest.digest}`);
      }
    }
    return manifest;
  }

  /** HEAD a manifest: its digest without its body, or undefined when it does not exist. */
  async headManifest(identifier: string): Promise<ManifestHead | undefined> {
    const url = this.path("manifests", identifier);
    const res = await this.registry.send({ method: "HEAD", url, headers: { accept: MANIFEST_ACCEPT } }, this.pullScope);
    await res.body.dump().catch(() => undefined);
    if (res.status === 404) return undefined;
    await this.expect(res, [200], `manifest ${this.fullName}:${identifier}`);
    const digest = header(res, "docker-content-digest");
    if (digest === undefined) return undefined; // caller falls back to GET
    const size = header(res, "content-length");
    return { digest: parseDigest(digest), mediaType: header(res, "content-type"), size: size !== undefined ? Number(size) : undefined };
  }

  /**
   * PUT a manifest. Resolves to the `OCI-Subject` header: a registry that processed the manifest's
   * `subject` says so with it; without it the client maintains the referrers tag (remote/referrers.ts).
   */
  async putManifest(identifier: string, manifest: { bytes: Buffer; mediaType: string; digest: Digest }): Promise<{ ociSubject: string | undefined }> {
    const url = this.path("manifests", identifier);
    const res = await this.registry.send(
      {
        method: "PUT",
        url,
        headers: { "content-type": manifest.mediaType, "content-length": String(manifest.bytes.length) },
        body: () => manifest.bytes,
        idempotent: true, // the same bytes under the same name
      },
      this.pushScope,
    );
    await this.expect(res, [201, 200, 202], `manifest ${this.fullName}:${identifier}`, "push");
    await res.body.dump().catch(() => undefined);
    const claimed = header(res, "docker-content-digest");
    if (claimed !== undefined && claimed.startsWith("sha256:") && claimed !== manifest.digest) {
      throw new VerificationError(`${this.fullName}: registry stored manifest as ${claimed}, expected ${manifest.digest}`);
    }
    return { ociSubject: header(res, "oci-subject") };
  }

  /**
   * The referrers API (distribution spec 1.1): descriptors of the manifests whose `subject` is
   * `subject`, every page (`Link: <...>; rel="next"`). Undefined when the registry has no such API
   * (404), as distribution 2.8: the caller then reads the referrers tag.
   */
  async referrers(subject: Digest): Promise<Descriptor[] | undefined> {
    const out: Descriptor[] = [];
    let url: URL | undefined = this.registry.url(`/v2/${this.name}/referrers/${subject}`);
    for (let page = 0; url !== undefined; page++) {
      if (page >= 100) throw new RegistryError(`referrers of ${this.fullName}@${subject}: more than 100 pages`);
      const res = await this.registry.send({ method: "GET", url, headers: { accept: MediaType.OciImageIndex } }, this.pullScope);
      if (res.status === 404 && page === 0) {
        await res.body.dump().catch(() => undefined);
        return undefined;
      }
      await this.expect(res, [200], `referrers of ${this.fullName}@${subject}`);
      const what = `referrers of ${this.fullName}@${subject}`;
      const bytes = await readCapped(res.body, MAX_MANIFEST_BYTES, what);
      let parsed;
      try {
        parsed = ImageIndexSchema.safeParse(JSON.parse(bytes.toString("utf8")));
      } catch {
        throw new RegistryError(`${what}: the registry's answer is not JSON`);
      }
      if (!parsed.success) throw new RegistryError(`${what}: not an image index (${describeIssues(parsed.error)})`);
      out.push(...parsed.data.manifests);
      url = nextPage(header(res, "link"), url, what);
    }
    return out;
  }

  /** The stored size of a blob, or undefined if the repository does not have it. */
  async blobSize(digest: Digest): Promise<number | undefined> {
    const res = await this.registry.send({ method: "HEAD", url: this.path("blobs", digest) }, this.pullScope);
    await res.body.dump().catch(() => undefined);
    if (res.status === 404) return undefined;
    await this.expect(res, [200], `blob ${this.fullName}@${digest}`);
    const size = header(res, "content-length");
    return size !== undefined ? Number(size) : undefined;
  }

  /** GET a blob's bytes as a stream (redirects followed without credentials). Callers verify. */
  async openBlob(digest: Digest): Promise<Readable> {
    const res = await this.registry.send({ method: "GET", url: this.path("blobs", digest) }, this.pullScope);
    await this.expect(res, [200], `blob ${this.fullName}@${digest}`);
    return res.body;
  }

  /**
   * GET a blob into `sink` (redirects followed without credentials). Resolves once the registry has
   * answered 200, before the bytes arrive; the sink hears of the end or of a failure. Callers verify.
   */
  async fetchBlob(digest: Digest, sink: BodySink): Promise<void> {
    const res = await this.registry.send({ method: "GET", url: this.path("blobs", digest), sink }, this.pullScope);
    await this.expect(res, [200], `blob ${this.fullName}@${digest}`);
  }

  /**
   * Asks the registry to mount `digest` from `fromRepository` (same registry). 201 means mounted;
   * 202 means it declined and opened an upload session instead, which the caller uses to upload.
   */
  async mountBlob(digest: Digest, fromRepository: string): Promise<MountResult> {
    const url = this.registry.url(`/v2/${this.name}/blobs/uploads/`);
    url.searchParams.set("mount", digest);
    url.searchParams.set("from", fromRepository);
    const res = await this.registry.send({ method: "POST", url, idempotent: true }, [...this.pushScope, repositoryScope(fromRepository, "pull")]);
    await this.done(res, [201, 202], `mount of ${digest} from ${fromRepository} into ${this.fullName}`, "push");
    if (res.status === 201) return { mounted: true };
    return { mounted: false, uploadUrl: this.location(res, url) };
  }

  /** Opens an upload session; returns its URL. */
  async startUpload(): Promise<URL> {
    const url = this.registry.url(`/v2/${this.name}/blobs/uploads/`);
    // Safe to resend: at worst the registry holds an unused session until it expires.
    const res = await this.registry.send({ method: "POST", url, headers: { "content-length": "0" }, idempotent: true }, this.pushScope);
    await this.done(res, [202], `upload to ${this.fullName}`, "push");
    return this.location(res, url);
  }

  /** Monolithic upload: one PUT carrying every byte, closing the session with the digest. */
  async uploadMonolithic(uploadUrl: URL, desc: { digest: Digest; size: number }, open: () => Promise<RequestBody> | RequestBody): Promise<void> {
    const url = new URL(uploadUrl);
    url.searchParams.set("digest", desc.digest);
    const res = await this.registry.send(
      {
        method: "PUT",
        url,
        headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
        body: open,
      },
      this.pushScope,
    );
    await this.done(res, [201], `blob ${desc.digest} to ${this.fullName}`, "push");
  }

  /**
   * Chunked upload: PATCH chunks of `chunkSize` with Content-Range, then PUT with the digest.
   * `open(start, end)` returns the bytes [start, end). Each chunk is retried as a whole; after a failed
   * PATCH we ask the session how much it holds (GET, Range header) before sending more, because
   * distribution 2.8 appends a re-sent chunk instead of answering 416.
   */
  async uploadChunked(
    uploadUrl: URL,
    desc: { digest: Digest; size: number },
    chunkSize: number,
    open: (start: number, end: number) => Promise<Readable> | Readable,
  ): Promise<void> {
    let url = uploadUrl;
    let offset = 0;
    let failures = 0;
    while (offset < desc.size) {
      const end = Math.min(offset + chunkSize, desc.size);
      const start = offset;
      let res: HttpResponse;
      try {
        res = await this.registry.send(
          {
            method: "PATCH",
            url,
            headers: {
              "content-type": "application/octet-stream",
              "content-length": String(end - start),
              "content-range": `${start}-${end - 1}`,
            },
            body: () => open(start, end),
          },
          this.pushScope,
        );
      } catch (err) {
        if (++failures > 3) throw err;
        offset = await this.uploadedBytes(url);
        continue;
      }
      if (res.status >= 500 && ++failures <= 3) {
        await res.body.dump().catch(() => undefined);
        offset = await this.uploadedBytes(url);
        continue;
      }
      await this.done(res, [202], `chunk ${start}-${end - 1} of ${desc.digest} to ${this.fullName}`, "push");
      url = this.location(res, url);
      offset = end;
    }
    const put = new URL(url);
    put.searchParams.set("digest", desc.digest);
    const res = await this.registry.send({ method: "PUT", url: put, headers: { "content-length": "0" } }, this.pushScope);
    await this.done(res, [201], `blob ${desc.digest} to ${this.fullName}`, "push");
  }

  /** How many bytes an upload session holds, from its `Range: 0-N` header. */
  private async uploadedBytes(url: URL): Promise<number> {
    const res = await this.registry.send({ method: "GET", url }, this.pushScope);
    await this.done(res, [204, 200], `upload status of ${this.fullName}`, "push");
    const range = header(res, "range");
    const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range) : null;
    return m ? Number(m[1]) + 1 : 0;
  }

  /**
   * Upload session URLs come back relative (distribution) or absolute (others), on the registry or
   * on another host (object storage); Registry.send sends no credentials to another host.
   */
  private location(res: HttpResponse, requestUrl: URL): URL {
    const loc = header(res, "location");
    if (loc === undefined) throw new RegistryError(`${this.fullName}: upload response has no Location header`);
    let url: URL;
    try {
      url = new URL(loc, requestUrl);
    } catch {
      throw new RegistryError(`${this.fullName}: upload response has a Location that is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new RegistryError(`${this.fullName}: upload Location has unsupported scheme ${url.protocol}`);
    // The registry's own host, named with the scheme it was first asked with (a loopback probe may
    // have settled on plain HTTP since): speak the scheme it is spoken to with.
    if (url.host === this.registry.base.host && url.protocol !== this.registry.base.protocol) url.protocol = this.registry.base.protocol;
    return url;
  }

  /** Checks the status (reading the error body if it failed), then discards the body. */
  private async done(res: HttpResponse, ok: number[], what: string, op: "pull" | "push" = "pull"): Promise<void> {
    await this.expect(res, ok, what, op);
    await res.body.dump().catch(() => undefined);
  }

  private async expect(res: HttpResponse, ok: number[], what: string, op: "pull" | "push" = "pull"): Promise<void> {
    if (ok.includes(res.status)) return;
    const detail = await registryErrorDetail(res);
    if (res.status === 404) throw new RegistryError(`${what}: not found${detail}`, 404);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(`${what}: ${res.status === 401 ? "unauthorized" : "denied"} (no ${op} access with the credentials in use)${detail}`, res.status);
    }
    throw new RegistryError(`${what}: ${describeRequest("", res.url).trim()} answered ${res.status}${detail}`, res.status);
  }
}

/** The first error of a distribution error body ({"errors":[{"code","message"}]}), if any. */
async function registryErrorDetail(res: HttpResponse): Promise<string> {
  let text: string;
  try {
    text = (await readCapped(res.body, MAX_ERROR_BODY, "error body")).toString("utf8");
  } catch {
    return "";
  }
  try {
    const json = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const first = json.errors?.[0];
    if (first) return ` (${[first.code, first.message].filter(Boolean).join(": ")})`;
  } catch {
    /* not JSON */
  }
  return "";
}
