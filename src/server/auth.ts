// Tokens, and the principal each stands for: API keys (`thk_<id>_<secret>`, looked up in the store on every request),
// JWTs from the user's identity provider (HS256 with a shared secret, or RS256/ES256/EdDSA with a public key), and
// follow tokens (short-lived HS256 JWTs this server signs, reading one task). principal.ts asks `authenticate` and
// nothing else; docs/security.md explains the choices.
import { createHash, createPublicKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader, errors as jose, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { UnauthorizedError, ValidationError } from '../core/errors.ts';
import type { ApiKey, Store } from '../store/store.ts';

/** The part of the store auth uses: API keys and shared secrets (Taskhub's `hub.keys`). */
export type KeyStore = Pick<Store, 'createApiKey' | 'findApiKey' | 'secret'>;
import { isScope, type Principal, type Scope, SCOPES } from './principal.ts';

// ---- API keys ----

export const API_KEY_PREFIX = 'thk_';
/** `thk_` + 16 hex digits of id + `_` + 43 base64url characters of secret (256 random bits). */
const API_KEY_RE = /^thk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/**
 * The stored form of a key's secret. SHA-256 rather than a slow password hash: the secret is 256 random bits, so
 * there is nothing to guess from the hash, and every request would pay for a deliberately slow one.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Compares two hex hashes in time that does not depend on where they differ. */
function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export interface ApiKeyRequest {
  owner: string;
  scopes: readonly string[];
  name?: string | null;
}

const OWNER_RE = /^[^\s\p{Cc}]{1,200}$/u;

/** Checks the owner and scopes of a new key (or of a JWT's claims): the words every entry point uses. */
export function checkOwner(owner: string, field = 'owner'): string {
  if (!OWNER_RE.test(owner)) throw new ValidationError(`${field}: must be 1 to 200 characters without spaces or control characters`, field);
  return owner;
}

export function checkScopes(scopes: readonly string[]): Scope[] {
  if (scopes.length === 0) throw new ValidationError(`scopes: give at least one of ${SCOPES.join(', ')}`, 'scopes');
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0) throw new ValidationError(`scopes: unknown scope "${unknown[0]}"; expected ${SCOPES.join(', ')}`, 'scopes');
  return [...new Set(scopes as Scope[])];
}

/** Creates a key; the token comes back here once and is never stored or shown again (only its hash is kept). */
export async function createApiKey(store: Pick<KeyStore, 'createApiKey'>, request: ApiKeyRequest, now = Date.now()): Promise<{ key: ApiKey; token: string }> {
  const key: ApiKey = {
    id: randomBytes(8).toString('hex'),
    name: request.name ?? null,
    owner: checkOwner(request.owner),
    scopes: checkScopes(request.scopes),
    createdAt: now,
    revokedAt: null,
  };
  const secret = randomBytes(32).toString('base64url');
  await store.createApiKey(key, hashSecret(secret));
  return { key, token: `${API_KEY_PREFIX}${key.id}_${secret}` };
}

/** Compared against when the key id is unknown, so that an unknown id costs what a wrong secret does. */
const DUMMY_HASH = hashSecret('no such key');

async function apiKeyPrincipal(store: Pick<KeyStore, 'findApiKey'>, token: string): Promise<Principal> {
  const match = API_KEY_RE.exec(token);
  if (!match) throw new UnauthorizedError('the API key is malformed (expected thk_<id>_<secret>)');
  const [, id, secret] = match as unknown as [string, string, string];
  // Read on every request, never cached: a revoke takes effect at once on every API node.
  const found = await store.findApiKey(id);
  const matches = sameHash(hashSecret(secret), found?.secretHash ?? DUMMY_HASH);
  if (!found || !matches) throw new UnauthorizedError('the API key is not valid');
  if (found.key.revokedAt !== null) throw new UnauthorizedError('the API key was revoked');
  const scopes = found.key.scopes.filter(isScope);
  return { owner: found.key.owner, admin: scopes.includes('admin'), scopes, subject: `key:${id}` };
}

// ---- follow tokens ----

const FOLLOW_TYP = 'taskhub-follow+jwt';
const FOLLOW_AUDIENCE = 'taskhub:follow';
const FOLLOW_ISSUER = 'taskhub';
/** The store secret follow tokens are signed with, shared by every API node. */
const FOLLOW_SECRET_NAME = 'follow-tokens';
export const DEFAULT_FOLLOW_TTL_SECONDS = 900;
export const MAX_FOLLOW_TTL_SECONDS = 24 * 3600;

export interface FollowToken {
  token: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/**
 * Signs and verifies follow tokens with a key every API node reads from the store (created once, on first use), so a
 * token from one node works on all of them, whatever user-JWT settings each has.
 */
export class FollowTokens {
  readonly #store: KeyStore;
  #key: Promise<Uint8Array> | undefined;

  constructor(store: KeyStore) {
    this.#store = store;
  }

  #signingKey(): Promise<Uint8Array> {
    this.#key ??= this.#store.secret(FOLLOW_SECRET_NAME).then(
      (secret) => new Uint8Array(Buffer.from(secret, 'base64url')),
      (error: unknown) => {
        this.#key = undefined;
        throw error;
      },
    );
    return this.#key;
  }

  /**
   * A token that reads `task` (get, events, result, stream, WebSocket) until `ttlSeconds` from now, on behalf of the
   * task's owner (its `sub`), whoever issued it; with `signals`, it may also send those signals to the task.
   */
  async issue(
    task: { id: string; owner: string | null },
    issuer: Principal,
    ttlSeconds: number,
    now = Date.now(),
    signals: readonly string[] = [],
  ): Promise<FollowToken> {
    const issuedAt = Math.floor(now / 1000);
    const expiresAt = issuedAt + ttlSeconds;
    const claims: JWTPayload = { task: task.id };
    if (signals.length > 0) claims.signals = [...signals];
    // Tokens minted with an API key die with it: verification checks the key is not revoked.
    if (issuer.subject?.startsWith('key:')) claims.key = issuer.subject.slice(4);
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: FOLLOW_TYP })
      .setIssuer(FOLLOW_ISSUER)
      .setAudience(FOLLOW_AUDIENCE)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt);
    if (task.owner !== null) jwt.setSubject(task.owner);
    return { token: await jwt.sign(await this.#signingKey()), expiresAt: expiresAt * 1000 };
  }

  async verify(token: string, now = Date.now()): Promise<Principal> {
    const { payload } = await verifyJwt(token, await this.#signingKey(), {
      algorithms: ['HS256'],
      typ: FOLLOW_TYP,
      audience: FOLLOW_AUDIENCE,
      issuer: FOLLOW_ISSUER,
      requiredClaims: ['exp'],
      currentDate: new Date(now),
    });
    const taskId = payload.task;
    if (typeof taskId !== 'string') throw new UnauthorizedError('the follow token names no task');
    if (typeof payload.key === 'string') {
      const found = await this.#store.findApiKey(payload.key);
      if (!found || found.key.revokedAt !== null) throw new UnauthorizedError('the API key that issued this follow token was revoked');
    }
    const signals = Array.isArray(payload.signals) ? payload.signals.filter((s): s is string => typeof s === 'string') : [];
    return { owner: payload.sub ?? null, admin: false, scopes: [], taskId, subject: `follow:${taskId}`, ...(signals.length ? { signals } : {}) };
  }
}

// ---- JWTs ----

export interface AuthOptions {
  /** HS256 secret of the identity provider's JWTs (at least 32 characters). */
  jwtSecret?: string;
  /** Public key of the identity provider's JWTs: PEM (SPKI or certificate) or JWK JSON text. */
  jwtPublicKey?: string;
  /** When given, a JWT's `aud` must include this (tokens your identity provider issued for other services are refused). */
  jwtAudience?: string;
  /** When given, a JWT's `iss` must be this. */
  jwtIssuer?: string;
  /** Clock skew accepted on `exp` and `nbf`, seconds. Default 5. */
  clockToleranceSeconds?: number;
}

/** Shortest HS256 secret accepted: RFC 7518 asks for a key at least as long as the hash (256 bits). */
export const MIN_JWT_SECRET_LENGTH = 32;

interface VerifierKey {
  key: KeyObject | Uint8Array;
  algorithms: string[];
}

/** The algorithms a public key can verify: RS256 for RSA, ES256/384/512 by curve, EdDSA for Ed25519 and Ed448. */
function publicKeyOf(text: string): VerifierKey {
  let key: KeyObject;
  try {
    const trimmed = text.trim();
    key = trimmed.startsWith('{') ? createPublicKey({ key: JSON.parse(trimmed), format: 'jwk' }) : createPublicKey(trimmed);
  } catch (error) {
    throw new ValidationError(`jwtPublicKey: not a PEM or JWK public key: ${(error as Error).message}`, 'jwtPublicKey');
  }
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { key, algorithms: ['RS256'] };
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const alg = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[curve ?? ''];
      if (!alg) throw new ValidationError(`jwtPublicKey: unsupported EC curve ${curve}`, 'jwtPublicKey');
      return { key, algorithms: [alg] };
    }
    case 'ed25519':
    case 'ed448':
      return { key, algorithms: ['EdDSA', 'Ed25519'] };
    default:
      throw new ValidationError(`jwtPublicKey: unsupported key type ${key.asymmetricKeyType}; use RSA, EC or Ed25519`, 'jwtPublicKey');
  }
}

/** jose's refusals, in words a client can act on; never the token itself. */
function jwtFailure(error: unknown): UnauthorizedError {
  if (error instanceof jose.JWTExpired) return new UnauthorizedError('the token has expired');
  if (error instanceof jose.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return new UnauthorizedError('the token is not valid yet (nbf)');
    return new UnauthorizedError(`the token's "${error.claim}" claim is not acceptable: ${error.reason}`);
  }
  if (error instanceof jose.JWSSignatureVerificationFailed) return new UnauthorizedError('the token signature does not verify');
  if (error instanceof jose.JOSEAlgNotAllowed) return new UnauthorizedError('the token is signed with an algorithm this server does not accept');
  if (error instanceof UnauthorizedError) return error;
  return new UnauthorizedError('the token is not a valid JWT');
}

async function verifyJwt(token: string, key: KeyObject | Uint8Array, options: Parameters<typeof jwtVerify>[2]) {
  try {
    return await jwtVerify(token, key, options);
  } catch (error) {
    throw jwtFailure(error);
  }
}

/** A user JWT's scopes: the `scope` claim, space-separated (an array is accepted too); unknown scopes are ignored. */
function scopesOf(claim: unknown): Scope[] {
  const words = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
  return [...new Set(words.filter((w): w is Scope => typeof w === 'string' && isScope(w)))];
}

/** Turns any accepted token into its principal; throws UnauthorizedError otherwise. */
export class Authenticator {
  readonly #store: KeyStore;
  readonly #follow: FollowTokens;
  readonly #hmac: VerifierKey | undefined;
  readonly #publicKey: VerifierKey | undefined;
  readonly #clockTolerance: number;
  readonly #audience: string | undefined;
  readonly #issuer: string | undefined;

  constructor(store: KeyStore, follow: FollowTokens, options: AuthOptions = {}) {
    this.#store = store;
    this.#follow = follow;
    if (options.jwtSecret !== undefined) {
      if (options.jwtSecret.length < MIN_JWT_SECRET_LENGTH) {
        throw new ValidationError(`jwtSecret: must be at least ${MIN_JWT_SECRET_LENGTH} characters`, 'jwtSecret');
      }
      this.#hmac = { key: new TextEncoder().encode(options.jwtSecret), algorithms: ['HS256'] };
    }
    if (options.jwtPublicKey !== undefined) this.#publicKey = publicKeyOf(options.jwtPublicKey);
    this.#clockTolerance = options.clockToleranceSeconds ?? 5;
    this.#audience = options.jwtAudience;
    this.#issuer = options.jwtIssuer;
  }

  /** Whether user JWTs are accepted at all. */
  get acceptsJwts(): boolean {
    return this.#hmac !== undefined || this.#publicKey !== undefined;
  }

  authenticate = async (token: string): Promise<Principal> => {
    if (token.startsWith(API_KEY_PREFIX)) return apiKeyPrincipal(this.#store, token);
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new UnauthorizedError('the token is neither an API key (thk_…) nor a JWT');
    }
    if (header.typ === FOLLOW_TYP) return this.#follow.verify(token);
    return this.#userJwt(token, header.alg);
  };

  async #userJwt(token: string, alg: string | undefined): Promise<Principal> {
    const verifier = alg === 'HS256' ? this.#hmac : this.#publicKey;
    if (!verifier) {
      throw new UnauthorizedError(
        this.acceptsJwts ? `the token is signed with ${alg ?? 'no algorithm'}, which this server does not accept` : 'this server accepts API keys, not JWTs',
      );
    }
    const { payload } = await verifyJwt(token, verifier.key, {
      algorithms: verifier.algorithms,
      requiredClaims: ['exp', 'sub'],
      clockTolerance: this.#clockTolerance,
      ...(this.#audience !== undefined ? { audience: this.#audience } : {}),
      ...(this.#issuer !== undefined ? { issuer: this.#issuer } : {}),
    });
    const owner = payload.sub as string;
    if (!OWNER_RE.test(owner)) throw new UnauthorizedError('the token\'s "sub" claim is not a usable owner name');
    const scopes = scopesOf(payload.scope);
    return { owner, admin: scopes.includes('admin'), scopes, subject: `jwt:${owner}` };
  }
}
