// One upload with tus-js-client in Node, for the tests (tests/e2e/test_tus_clients.py).
// Usage: node upload.mjs ENDPOINT TOKEN FILE NAME CHUNK_BYTES|0 [UPLOAD_URL]
// Prints one JSON line per event: {"url"}, {"acknowledged": offset} after each PATCH the
// server answered, then {"success": true} or {"error": message}; exits 0 on success.
import { readFileSync } from "node:fs";
import { Upload } from "tus-js-client";

const [endpoint, token, file, name, chunk, uploadUrl] = process.argv.slice(2);
const data = readFileSync(file);
const say = (event) => process.stdout.write(JSON.stringify(event) + "\n");
let announced = false;

const upload = new Upload(data, {
  endpoint,
  uploadUrl: uploadUrl || null,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: name, filetype: "application/octet-stream" },
  chunkSize: Number(chunk) > 0 ? Number(chunk) : Infinity,
  retryDelays: [0, 500, 1000, 2000, 4000],
  onProgress: () => {
    if (!announced && upload.url) {
      announced = true;
      say({ url: upload.url });
    }
  },
  onChunkComplete: (_size, accepted) => {
    if (!announced && upload.url) {
      announced = true;
      say({ url: upload.url });
    }
    say({ acknowledged: accepted });
  },
  onSuccess: () => {
    say({ success: true, url: upload.url });
    process.exit(0);
  },
  onError: (error) => {
    say({ error: String(error) });
    process.exit(1);
  },
});
upload.start();
