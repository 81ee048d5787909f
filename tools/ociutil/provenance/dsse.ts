/**
 * DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse): signs a payload with an ECDSA P-256
 * key, as cosign does for an in-toto attestation. The signature covers the "pre-authentication
 * encoding" (PAE) of the payload type and bytes, so neither can be swapped without breaking it.
 */
import { createPrivateKey, createPublicKey, createHash, sign, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { OciError } from "../util/errors.js";

export interface Envelope {
  payloadType: string;
  /** base64 of the payload bytes. */
  payload: string;
  signatures: Array<{ sig: string; keyid?: string }>;
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes, decimal. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export interface SigningKey {
  privateKey: KeyObject;
  /** base64(sha256(SubjectPublicKeyInfo DER)): what cosign puts in a bundle's `publicKey.hint`. */
  hint: string;
}

/** A private key block of a PEM file, whatever else the file holds (openssl ecparam writes EC PARAMETERS first). */
const PEM_KEY = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

/**
 * Reads an ECDSA P-256 private key in PEM: PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), as
 * `openssl ecparam -genkey -name prime256v1` and `openssl genpkey` write them. Errors never quote
 * the file's content.
 */
export async function loadSigningKey(file: string): Promise<SigningKey> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new OciError(`--key ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const block = PEM_KEY.exec(text);
  if (block === null) throw new OciError(`--key ${file}: no PEM private key in it (expected "BEGIN PRIVATE KEY" or "BEGIN EC PRIVATE KEY")`);
  const kind = block[1] as string;
  if (kind === "ENCRYPTED SIGSTORE PRIVATE KEY" || kind === "ENCRYPTED COSIGN PRIVATE KEY") {
    throw new OciError(
      `--key ${file}: cosign's encrypted key format is not supported; sign with a PEM key from ` +
        `\`openssl ecparam -genkey -name prime256v1 -out key.pem\` (cosign verifies with its public key; \`cosign import-key-pair --key key.pem\` makes a cosign key of it)`,
    );
  }
  if (kind === "ENCRYPTED PRIVATE KEY") throw new OciError(`--key ${file}: the key is encrypted; give an unencrypted PEM key`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: block[0], format: "pem" });
  } catch {
    throw new OciError(`--key ${file}: not a valid ${kind} PEM block`);
  }
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    const what = privateKey.asymmetricKeyType === "ec" ? `an EC key on ${privateKey.asymmetricKeyDetails?.namedCurve}` : `a ${privateKey.asymmetricKeyType} key`;
    throw new OciError(`--key ${file}: ${what}; an ECDSA P-256 (prime256v1) key is needed`);
  }
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  return { privateKey, hint: createHash("sha256").update(spki).digest("base64") };
}

/** Signs `payload` into an envelope: ECDSA over SHA-256 of the PAE, DER-encoded, as cosign and sigstore-go verify. */
export function signEnvelope(payloadType: string, payload: Buffer, key: SigningKey): Envelope {
  const sig = sign("sha256", pae(payloadType, payload), key.privateKey);
  return { payloadType, payload: payload.toString("base64"), signatures: [{ sig: sig.toString("base64") }] };
}
