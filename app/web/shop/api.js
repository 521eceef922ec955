// Calls /api/storefront/* with the shop page's builtin key (from key.json, once per load).
export class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code;
    this.errors = problem.errors || null;
  }
}

let keyPromise = null;

function key() {
  if (!keyPromise) {
    keyPromise = fetch("key.json", { headers: { Accept: "application/json" } }).then(async (resp) => {
      if (!resp.ok) throw new ApiError({ detail: "The shop is closed for now." }, resp.status);
      return (await resp.json()).key;
    });
  }
  return keyPromise;
}

async function call(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", "X-Storefront-Key": await key(), ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    throw new ApiError({ detail: "The shop cannot be reached; check your connection." }, 0);
  }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    if (resp.status === 429) {
      const wait = resp.headers.get("Retry-After");
      throw new ApiError({ ...data, detail: `Too many tries; please wait ${wait || "a few"} seconds.` }, 429);
    }
    throw new ApiError(data, resp.status);
  }
  return data;
}

// paths are absolute (/api/...) so the page works at /shop/ and behind any #fragment
export const api = {
  get: (path) => call("GET", path),
  post: (path, body, headers) => call("POST", path, body, headers),
};
