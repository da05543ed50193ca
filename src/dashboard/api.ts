// The dashboard's calls to the API. The admin token, when the server asks for one, lives in sessionStorage (gone when
// the tab closes) and travels only in the Authorization header: never in a URL, where logs and history would keep it.

const TOKEN_KEY = 'taskhub.dashboard.token';

export const token = {
  get(): string | null {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  },
  set(value: string): void {
    sessionStorage.setItem(TOKEN_KEY, value);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, message: string, code?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

type AuthListener = (error: ApiError) => void;
const authListeners = new Set<AuthListener>();

/** Called on every 401 and 403: the dashboard asks for a (better) token. */
export function onAuthProblem(listener: AuthListener): void {
  authListeners.add(listener);
}

export function authHeaders(): Record<string, string> {
  const value = token.get();
  return value ? { authorization: `Bearer ${value}` } : {};
}

/** Calls the API; rejects with ApiError carrying the problem's detail. 204 resolves to undefined. */
export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, `the server cannot be reached (${(error as Error).message})`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const problem = (parsed ?? {}) as { detail?: string; title?: string; code?: string };
    const error = new ApiError(response.status, problem.detail ?? problem.title ?? `${response.status} ${response.statusText}`, problem.code);
    if (response.status === 401 || response.status === 403) for (const listener of authListeners) listener(error);
    throw error;
  }
  return parsed as T;
}

/** For routes another part of the server may not have: a 404 (or 405) becomes null instead of an error. */
export async function optional<T>(path: string, signal?: AbortSignal): Promise<T | null> {
  try {
    return await api<T>('GET', path, undefined, signal);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}
