// The REST API on this origin: JSON calls with the access token, refreshed with the refresh
// token before it expires and once on a 401 about expiry. Errors carry the server's message,
// code and request id.

const SESSION_KEY = "govault.session";
const REFRESH_MARGIN_S = 60;

export class ApiError extends Error {
  constructor(status, body, requestId) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "";
    this.requestId = (body && body.request_id) || requestId || "";
  }
}

function now() {
  return Date.now() / 1000;
}

export class Api {
  constructor(onSignedOut) {
    this.onSignedOut = onSignedOut;
    this.session = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    this.refreshing = null;
    this.timer = null;
    this.schedule();
    window.addEventListener("storage", (event) => {
      if (event.key === SESSION_KEY) this.adoptStored(event.newValue);
    });
  }

  get user() {
    return this.session && this.session.user;
  }

  save(tokens, user) {
    this.session = {
      token: tokens.token,
      refresh_token: tokens.refresh_token,
      expires_at: now() + (tokens.expires_in || 900),
      user: user || this.user,
    };
    localStorage.setItem(SESSION_KEY, JSON.stringify(this.session));
    this.schedule();
  }

  forget() {
    this.session = null;
    localStorage.removeItem(SESSION_KEY);
    clearTimeout(this.timer);
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.session) return;
    const wait = Math.max(5, this.session.expires_at - now() - REFRESH_MARGIN_S);
    this.timer = setTimeout(() => this.refresh().catch(() => {}), wait * 1000);
  }

  async raw(method, path, { body, auth = true, retry = true } = {}) {
    if (auth && this.session && this.session.expires_at - now() < 5) {
      await this.refresh().catch(() => {});
    }
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && this.session) headers.Authorization = `Bearer ${this.session.token}`;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && auth && this.session && retry) {
      const error = await readError(response);
      if (error.code === "TOKEN_EXPIRED" && (await this.refresh().then(() => true, () => false))) {
        return this.raw(method, path, { body, auth, retry: false });
      }
      this.signedOut();
      throw error;
    }
    if (!response.ok) throw await readError(response);
    return response;
  }

  async call(method, path, options) {
    const response = await this.raw(method, path, options);
    if (response.status === 204) return null;
    return response.json();
  }

  // One refresh at a time, across tabs too (Web Locks): refresh tokens rotate, and a second use
  // of the same one is taken for theft and revokes the whole family. A tab that finds a newer
  // session stored by another tab adopts it instead of refreshing.
  refresh() {
    if (!this.session) return Promise.reject(new Error("not signed in"));
    if (!this.refreshing) {
      const once = () => this.refreshOnce();
      const locked = navigator.locks ? navigator.locks.request("govault.refresh", once) : once();
      this.refreshing = locked.finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async refreshOnce() {
    const stored = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (!stored || !this.session) {
      this.signedOut();
      throw new Error("signed out");
    }
    if (stored.refresh_token !== this.session.refresh_token
        && stored.expires_at - now() > REFRESH_MARGIN_S) {
      this.session = stored;
      this.schedule();
      return;
    }
    try {
      const tokens = await this.call("POST", "/auth/refresh", {
        body: { refresh_token: stored.refresh_token },
        auth: false,
      });
      this.save(tokens);
    } catch (error) {
      if (error.status === 401) this.signedOut();
      throw error;
    }
  }

  // Another tab signed in, refreshed or signed out.
  adoptStored(value) {
    const stored = JSON.parse(value || "null");
    if (!stored) {
      if (this.session) this.signedOut();
      return;
    }
    const switched = !this.session || this.session.user.user_id !== stored.user.user_id;
    this.session = stored;
    this.schedule();
    if (switched) location.reload();
  }

  signedOut() {
    this.forget();
    this.onSignedOut();
  }

  async signUp(username, email, password) {
    await this.call("POST", "/auth/signup", { body: { username, email, password }, auth: false });
    return this.signIn(email, password);
  }

  async signIn(email, password) {
    const reply = await this.call("POST", "/auth/login", { body: { email, password }, auth: false });
    this.save(reply, { user_id: reply.user_id, username: reply.username, email: reply.email });
    return reply;
  }

  async signOut() {
    const refreshToken = this.session && this.session.refresh_token;
    this.forget();
    if (refreshToken) {
      await this.call("POST", "/auth/logout", { body: { refresh_token: refreshToken }, auth: false });
    }
  }

  // The access token for requests the page sends itself (XMLHttpRequest with upload progress).
  async bearer() {
    if (this.session && this.session.expires_at - now() < 30) await this.refresh();
    return this.session ? `Bearer ${this.session.token}` : "";
  }
}

export async function readError(response) {
  const requestId = response.headers.get("X-Request-ID") || "";
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body, requestId);
}

// An error body from an XMLHttpRequest (same shape as readError).
export function xhrError(xhr) {
  let body = null;
  try {
    body = JSON.parse(xhr.responseText);
  } catch {
    body = null;
  }
  return new ApiError(xhr.status, body, xhr.getResponseHeader("X-Request-ID"));
}
