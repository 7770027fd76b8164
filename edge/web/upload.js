// Uploads: small files through the edge in the chunks the session asks for (proxy), large ones
// straight to the store in parts PUT in parallel to presigned URLs (multipart). Every upload
// started is remembered in localStorage, so that after a reload or a closed tab the same file,
// picked again, carries on from what the server says has arrived (GET /api/upload/status) and,
// for parts, the ETags remembered here: parts are not registered one by one, completion lists
// them (`parts` of POST /api/upload/multipart/complete).

import { ApiError, xhrError } from "./api.js";

const MIB = 1024 * 1024;
export const PROXY_MAX_BYTES = 8 * MIB;
// S3's part limits (common/files.py; tests/unit/common/test_s3_limits.py keeps them equal)
const MIN_PART_BYTES = 5 * MIB;
const MAX_PARTS = 10000;
const PARALLEL_PARTS = 4;
const PRESIGN_BATCH = 100;
const ATTEMPTS = 3;
const STORE_KEY = "govault.uploads";
const RESUMABLE = new Set(["pending", "uploading"]);

export function partSize(size) {
  return Math.max(MIN_PART_BYTES, Math.ceil(size / MAX_PARTS / MIB) * MIB);
}

function fileKey(file) {
  return `${file.name}|${file.size}|${file.lastModified}`;
}

// The uploads this browser started and has not seen finish, per user.
export class Pending {
  constructor(userId) {
    this.userId = userId;
  }

  all() {
    const stored = JSON.parse(localStorage.getItem(STORE_KEY) || "{}");
    return stored[this.userId] || [];
  }

  write(list) {
    const stored = JSON.parse(localStorage.getItem(STORE_KEY) || "{}");
    stored[this.userId] = list;
    localStorage.setItem(STORE_KEY, JSON.stringify(stored));
  }

  find(file) {
    return this.all().find((entry) => entry.key === fileKey(file));
  }

  add(entry) {
    this.write([...this.all().filter((e) => e.key !== entry.key), entry]);
  }

  remove(uploadUuid) {
    this.write(this.all().filter((e) => e.upload_uuid !== uploadUuid));
  }
}

class Cancelled extends Error {}

// One PUT or POST with upload progress; resolves with the XMLHttpRequest once it answered 2xx.
function send(method, url, body, headers, onProgress, requests) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    requests.add(xhr);
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      requests.delete(xhr);
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
      else reject(xhrError(xhr));
    };
    xhr.onerror = () => {
      requests.delete(xhr);
      reject(new ApiError(0, { error: `network error sending to ${new URL(url).host}` }));
    };
    xhr.onabort = () => {
      requests.delete(xhr);
      reject(new Cancelled("cancelled"));
    };
    xhr.send(body);
  });
}

async function sha256Hex(blob) {
  if (!(globalThis.crypto && crypto.subtle)) return "";
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class Upload {
  constructor(api, pending, file, onChange) {
    this.api = api;
    this.pending = pending;
    this.file = file;
    this.onChange = onChange;
    this.state = "starting";
    this.method = file.size > PROXY_MAX_BYTES ? "multipart" : "proxy";
    this.total = file.size;
    this.done = 0; // bytes of finished chunks or parts
    this.inFlight = new Map(); // part -> bytes sent so far
    this.requests = new Set();
    this.resumedFrom = 0; // bytes the server already had when this page started
    this.samples = [];
    this.error = null;
    this.uploadUuid = "";
    this.fileId = "";
    this.partBytes = 0;
    this.etags = new Map(); // part number -> ETag of the parts in the store
    this.remembered = {}; // what remember() keeps beside the file's identity
  }

  get sent() {
    let sum = this.done;
    for (const bytes of this.inFlight.values()) sum += bytes;
    return Math.min(sum, this.total);
  }

  // Bytes per second over the last few seconds of this page's own sending.
  get speed() {
    if (this.samples.length < 2) return 0;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = (last.t - first.t) / 1000;
    return seconds > 0 ? (last.bytes - first.bytes) / seconds : 0;
  }

  get eta() {
    const speed = this.speed;
    return speed > 0 ? (this.total - this.sent) / speed : Infinity;
  }

  changed() {
    const t = performance.now();
    this.samples.push({ t, bytes: this.sent });
    while (this.samples.length > 2 && t - this.samples[0].t > 5000) this.samples.shift();
    this.onChange(this);
  }

  async start() {
    try {
      const saved = this.pending.find(this.file);
      const resumed = saved && (await this.resume(saved));
      if (!resumed) await (this.method === "proxy" ? this.startProxy() : this.startMultipart());
      this.state = "completed";
      this.pending.remove(this.uploadUuid);
    } catch (error) {
      if (error instanceof Cancelled || this.state === "cancelled") {
        this.state = "cancelled";
      } else {
        this.state = "failed";
        this.error = error;
      }
    }
    this.inFlight.clear();
    this.changed();
    return this;
  }

  async cancel() {
    if (this.state === "completed" || this.state === "failed") return;
    this.state = "cancelled";
    for (const xhr of [...this.requests]) xhr.abort();
    if (this.uploadUuid) {
      this.pending.remove(this.uploadUuid);
      await this.api.call("POST", "/api/upload/abort", { body: { upload_uuid: this.uploadUuid } });
    }
    this.changed();
  }

  checkCancelled() {
    if (this.state === "cancelled") throw new Cancelled("cancelled");
  }

  remember(extra) {
    this.remembered = { ...this.remembered, ...extra };
    this.pending.add({
      key: fileKey(this.file),
      name: this.file.name,
      size: this.file.size,
      upload_uuid: this.uploadUuid,
      method: this.method,
      started_at: new Date().toISOString(),
      ...this.remembered,
    });
  }

  // Carries on with an upload a previous page started; false when there is nothing to resume.
  async resume(saved) {
    let status;
    try {
      status = await this.api.call(
        "GET", `/api/upload/status?upload_uuid=${encodeURIComponent(saved.upload_uuid)}`);
    } catch (error) {
      if (error.status === 404) {
        this.pending.remove(saved.upload_uuid);
        return false;
      }
      throw error;
    }
    this.uploadUuid = saved.upload_uuid;
    if (status.status === "completed") {
      this.fileId = status.file_id || "";
      this.done = this.total;
      this.resumedFrom = this.total;
      return true;
    }
    if (!RESUMABLE.has(status.status)) {
      this.pending.remove(saved.upload_uuid);
      return false;
    }
    this.method = saved.method;
    this.state = "uploading";
    const received = new Set(status.received);
    if (saved.method === "multipart") {
      const size = saved.part_size;
      this.partBytes = size;
      this.etags = new Map(Object.entries(saved.etags || {}).map(([n, etag]) => [Number(n), etag]));
      this.remembered = { part_size: size, etags: saved.etags || {} };
      for (const n of this.etags.keys()) received.add(n);
      const parts = numbers(status.total_chunks, 1).filter((n) => !received.has(n));
      this.done = this.total - parts.reduce((sum, n) => sum + this.slice(n - 1, size).size, 0);
      this.resumedFrom = this.done;
      this.changed();
      await this.sendParts(parts, size, new Map());
      await this.complete();
    } else {
      const size = saved.chunk_size;
      const chunks = numbers(status.total_chunks, 0).filter((n) => !received.has(n));
      this.done = this.total - chunks.reduce((sum, n) => sum + this.slice(n, size).size, 0);
      this.resumedFrom = this.done;
      this.changed();
      await this.sendChunks(chunks, size);
    }
    return true;
  }

  slice(index, size) {
    return this.file.slice(index * size, Math.min(this.total, (index + 1) * size));
  }

  // proxy ------------------------------------------------------------------------------------
  async startProxy() {
    const session = await this.api.call("POST", "/api/upload/proxy/session", {
      body: { file_name: this.file.name, file_size_bytes: this.total },
    });
    this.uploadUuid = session.upload_uuid;
    this.remember({ chunk_size: session.chunk_size_bytes });
    this.state = "uploading";
    this.changed();
    await this.sendChunks(numbers(session.total_chunks, 0), session.chunk_size_bytes);
  }

  async sendChunks(indexes, size) {
    for (const index of indexes) {
      this.checkCancelled();
      const chunk = this.slice(index, size);
      const headers = { "Upload-UUID": this.uploadUuid };
      const checksum = await sha256Hex(chunk);
      if (checksum) headers.Checksum = checksum;
      const xhr = await this.withRetries(async () => {
        headers.Authorization = await this.api.bearer();
        return send("POST", `/api/upload/proxy/chunk?id=${index}`, chunk, headers, (loaded) => {
          this.inFlight.set(index, loaded);
          this.changed();
        }, this.requests);
      });
      this.inFlight.delete(index);
      this.done += chunk.size;
      const reply = JSON.parse(xhr.responseText);
      if (reply.file_id) this.fileId = reply.file_id;
      this.changed();
    }
  }

  // multipart --------------------------------------------------------------------------------
  async startMultipart() {
    const size = partSize(this.total);
    const session = await this.api.call("POST", "/api/upload/multipart/session", {
      body: { file_name: this.file.name, file_size_bytes: this.total, part_size_bytes: size },
    });
    this.uploadUuid = session.upload_uuid;
    const actual = session.part_size_bytes || size;
    this.partBytes = actual;
    this.remember({ part_size: actual });
    this.state = "uploading";
    this.changed();
    const urls = new Map(session.parts.map((p) => [p.part_number, p.url]));
    await this.sendParts(numbers(session.total_chunks, 1), actual, urls);
    await this.complete();
  }

  async presign(numbersWanted, urls) {
    for (let i = 0; i < numbersWanted.length; i += PRESIGN_BATCH) {
      const reply = await this.api.call("POST", "/api/upload/multipart/presign", {
        body: { upload_uuid: this.uploadUuid, part_numbers: numbersWanted.slice(i, i + PRESIGN_BATCH) },
      });
      for (const part of reply.parts) urls.set(part.part_number, part.url);
    }
  }

  async sendParts(parts, size, urls) {
    const queue = [...parts];
    const worker = async () => {
      while (queue.length > 0) {
        this.checkCancelled();
        const number = queue.shift();
        if (!urls.has(number)) {
          await this.presign(queue.filter((n) => !urls.has(n)).concat([number]).slice(0, PRESIGN_BATCH), urls);
        }
        await this.sendPart(number, size, urls);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, parts.length) }, worker));
  }

  async sendPart(number, size, urls) {
    const blob = this.slice(number - 1, size);
    const xhr = await this.withRetries(async (attempt) => {
      if (attempt > 0) await this.presign([number], urls); // the URL may have expired
      return send("PUT", urls.get(number), blob, {}, (loaded) => {
        this.inFlight.set(number, loaded);
        this.changed();
      }, this.requests);
    });
    const etag = xhr.getResponseHeader("ETag");
    if (!etag) throw new ApiError(0, { error: "the store did not expose the part's ETag (CORS)" });
    this.etags.set(number, etag);
    this.remember({ etags: Object.fromEntries(this.etags) });
    this.inFlight.delete(number);
    this.done += blob.size;
    this.changed();
  }

  async complete() {
    this.checkCancelled();
    this.state = "completing";
    this.changed();
    const parts = [...this.etags].sort((a, b) => a[0] - b[0]).map(([n, etag]) => (
      { part_number: n, etag, size_bytes: this.slice(n - 1, this.partBytes).size }));
    const reply = await this.api.call("POST", "/api/upload/multipart/complete", {
      body: { upload_uuid: this.uploadUuid, parts },
    });
    this.fileId = reply.file_id;
  }

  // Network errors and 5xx are retried; anything the server refused on purpose is not.
  async withRetries(attemptOnce) {
    for (let attempt = 0; ; attempt += 1) {
      this.checkCancelled();
      try {
        return await attemptOnce(attempt);
      } catch (error) {
        const retriable = !(error instanceof Cancelled)
          && (error.status === 0 || error.status >= 500 || error.status === 403);
        if (!retriable || attempt + 1 >= ATTEMPTS || this.state === "cancelled") throw error;
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
  }
}

function numbers(count, first) {
  return Array.from({ length: count }, (_, i) => i + first);
}
