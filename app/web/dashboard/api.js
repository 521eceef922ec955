// The public API as this page calls it: a bearer token kept in sessionStorage, problems as errors.
const TOKEN = "backroom.access_token";

export class SignedOut extends Error {}

export class Refused extends Error {
  constructor(problem, status) {
    super((problem && (problem.detail || problem.title)) || `The server answered ${status}.`);
    this.status = status;
  }
}

export function signedIn() {
  return sessionStorage.getItem(TOKEN) !== null;
}

export async function call(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (resp.status === 401 && token) {
    sessionStorage.removeItem(TOKEN);
    throw new SignedOut("Your session has ended; sign in again.");
  }
  if (!resp.ok) throw new Refused(data, resp.status);
  return data;
}

export async function signIn(username, password) {
  const answer = await call("/api/auth/login", { method: "POST", body: { username, password } });
  sessionStorage.setItem(TOKEN, answer.access_token);
  return answer.user;
}

export async function signOut() {
  try {
    await call("/api/auth/logout", { method: "POST" });
  } catch (err) {
    // signed out either way
  } finally {
    sessionStorage.removeItem(TOKEN);
  }
}
