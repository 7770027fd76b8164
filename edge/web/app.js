// GoVault's web page: sign-up / sign-in, the three file lists, uploads, file actions, and the
// anonymous page of a public file (/p/<file_id>). Plain DOM, no build step.

import { Api } from "./api.js";
import { Pending, Upload } from "./upload.js";

const $ = (id) => document.getElementById(id);
const LISTS = {
  owned: { path: "/api/files/me/owned", title: "My files" },
  shared: { path: "/api/files/me/shared", title: "Shared with me" },
  shortcuts: { path: "/api/files/me/shortcuts", title: "Shortcuts" },
};
const PAGE_SIZE = 20;

const api = new Api(() => showSignedOut("Your session ended: please sign in again."));
const view = { list: "owned", page: 1, hasMore: false, uploads: new Map() };

// --------------------------------------------------------------------------------- helpers
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== false && value !== undefined && value !== null) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return "…";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

function formatDate(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "";
}

function announce(message) {
  $("status").textContent = message;
}

function showError(error) {
  $("notice-text").textContent = error.message || String(error);
  $("notice-request").textContent = error.requestId ? `Request id: ${error.requestId}` : "";
  $("notice").hidden = false;
  $("notice").classList.add("error");
}

function showInfo(message) {
  $("notice-text").textContent = message;
  $("notice-request").textContent = "";
  $("notice").hidden = false;
  $("notice").classList.remove("error");
}

function clearNotice() {
  $("notice").hidden = true;
}

// Runs an action from a button: errors are shown, not thrown.
async function attempt(action) {
  try {
    clearNotice();
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

function selectTab(tabs, selected) {
  for (const tab of tabs) {
    const on = tab === selected;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
  }
}

// Arrow keys move between the tabs of a tablist (WAI-ARIA tabs pattern).
function arrowKeys(tablist) {
  tablist.addEventListener("keydown", (event) => {
    const tabs = [...tablist.querySelectorAll('[role="tab"]')];
    const index = tabs.indexOf(document.activeElement);
    if (index < 0 || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
    event.preventDefault();
    const next = { ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: tabs.length - 1 }[event.key];
    const tab = tabs[(next + tabs.length) % tabs.length];
    tab.focus();
    tab.click();
  });
}

// --------------------------------------------------------------------------------- dialog
// Shows the dialog with `body`; resolves true when confirmed, false when cancelled.
function openDialog(title, body, okLabel = "OK", { danger = false, cancelLabel = "Cancel" } = {}) {
  const dialog = $("dialog");
  $("dialog-title").textContent = title;
  $("dialog-body").replaceChildren(body);
  $("dialog-ok").textContent = okLabel;
  $("dialog-ok").hidden = !okLabel;
  $("dialog-ok").classList.toggle("danger", danger);
  $("dialog-cancel").textContent = cancelLabel;
  return new Promise((resolve) => {
    const finish = (value) => {
      $("dialog-form").removeEventListener("submit", onSubmit);
      $("dialog-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      finish(true);
    };
    const onCancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    $("dialog-form").addEventListener("submit", onSubmit);
    $("dialog-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    const first = body.querySelector("input, select");
    (first || $("dialog-cancel")).focus();
  });
}

// --------------------------------------------------------------------------------- auth
function showSignedOut(message) {
  for (const upload of view.uploads.values()) upload.cancel().catch(() => {});
  view.uploads.clear();
  $("uploads").replaceChildren();
  $("account").hidden = true;
  $("files-view").hidden = true;
  $("public-view").hidden = true;
  $("loading").hidden = true;
  $("auth-view").hidden = false;
  document.title = "Sign in · GoVault";
  if (message) showInfo(message);
  $("sign-in-email").focus();
}

function showSignedIn() {
  $("auth-view").hidden = true;
  $("loading").hidden = true;
  $("account").hidden = false;
  $("whoami").textContent = `${api.user.username} (${api.user.email})`;
  $("files-view").hidden = false;
  document.title = "Files · GoVault";
  renderInterrupted();
  return loadList();
}

function setupAuth() {
  const tabs = [$("tab-sign-in"), $("tab-sign-up")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      selectTab(tabs, tab);
      const signUp = tab === $("tab-sign-up");
      $("sign-in-form").hidden = signUp;
      $("sign-up-form").hidden = !signUp;
      $("auth-title").textContent = signUp ? "Create a GoVault account" : "Sign in to GoVault";
    });
  }
  arrowKeys(tabs[0].parentElement);
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      await api.signIn($("sign-in-email").value.trim(), $("sign-in-password").value);
      $("sign-in-form").reset();
      await showSignedIn();
    });
  });
  $("sign-up-form").addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      await api.signUp($("sign-up-username").value.trim(), $("sign-up-email").value.trim(),
        $("sign-up-password").value);
      $("sign-up-form").reset();
      await showSignedIn();
    });
  });
  $("sign-out").addEventListener("click", () => attempt(async () => {
    await api.signOut().finally(() => showSignedOut("You are signed out."));
  }));
}

// --------------------------------------------------------------------------------- lists
// "1.2 MiB of 10.0 GiB used · 3 files · 8.8 GiB free" (+ what open uploads hold).
export function usageText(usage) {
  const files = `${usage.files} file${usage.files === 1 ? "" : "s"}`;
  const reserved = usage.reserved_bytes > 0
    ? ` · ${formatBytes(usage.reserved_bytes)} held by uploads in progress` : "";
  if (!usage.quota_bytes) return `${formatBytes(usage.used_bytes)} used · ${files} · no quota${reserved}`;
  const free = Math.max(0, usage.quota_bytes - usage.used_bytes - usage.reserved_bytes);
  return `${formatBytes(usage.used_bytes)} of ${formatBytes(usage.quota_bytes)} used · ${files}`
    + ` · ${formatBytes(free)} free${reserved}`;
}

async function loadUsage() {
  const usage = await api.call("GET", "/api/files/me/usage");
  const meter = $("usage-meter");
  meter.hidden = !usage.quota_bytes;
  meter.value = usage.quota_bytes
    ? Math.min(1, (usage.used_bytes + usage.reserved_bytes) / usage.quota_bytes) : 0;
  $("usage-text").textContent = usageText(usage);
  $("usage").dataset.used = String(usage.used_bytes);
  $("usage").hidden = false;
}

// The list shown and the storage figures (every change to the files goes through here).
async function loadList() {
  const list = LISTS[view.list];
  const usage = loadUsage();
  const reply = await api.call("GET", `${list.path}?page=${view.page}&limit=${PAGE_SIZE}`);
  await usage;
  view.hasMore = reply.has_more;
  $("list-caption").textContent = list.title;
  $("file-table").classList.toggle("with-owner", view.list !== "owned");
  $("file-rows").replaceChildren(...reply.files.map(fileRow));
  $("empty").hidden = reply.files.length > 0;
  $("file-table").hidden = reply.files.length === 0;
  $("page-label").textContent = `Page ${view.page}`;
  $("prev-page").disabled = view.page <= 1;
  $("next-page").disabled = !view.hasMore;
}

function ownerLabel(file) {
  if (file.owner_id === api.user.user_id) return "you";
  return file.owner_email || file.owner_username || `user ${file.owner_id.slice(0, 8)}`;
}

function fileRow(file) {
  const owned = file.owner_id === api.user.user_id;
  const canEdit = owned || file.access === "editor";
  const actions = el("div", { class: "actions" },
    actionButton("Download", file, () => download(file.file_id)),
    canEdit ? actionButton("Rename", file, () => rename(file)) : null,
    actionButton("Copy", file, () => copy(file)),
    owned ? actionButton("Share", file, () => manageShares(file)) : null,
    owned ? actionButton(file.is_public ? "Public link" : "Make public", file, () => publicLink(file)) : null,
    view.list === "shortcuts"
      ? actionButton("Remove shortcut", file, () => removeShortcut(file))
      : actionButton("Add shortcut", file, () => addShortcut(file)),
    owned ? actionButton("Delete", file, () => remove(file), "danger") : null);
  return el("tr", { "data-file-id": file.file_id },
    el("th", { scope: "row", class: "name", "data-label": "Name" },
      el("span", { text: file.name }),
      file.is_public ? el("span", { class: "badge", text: "public" }) : null),
    el("td", { "data-label": "Size", text: formatBytes(file.size_bytes) }),
    el("td", { "data-label": "Type", text: file.mime_type || "" }),
    el("td", { "data-label": "Added" }, el("time", { datetime: file.created_at, text: formatDate(file.created_at) })),
    el("td", { "data-label": "Owner", class: "owner-col", text: ownerLabel(file) }),
    el("td", { class: "actions-cell" }, actions));
}

function actionButton(label, file, action, kind = "") {
  return el("button", {
    type: "button",
    class: `small ${kind}`,
    "aria-label": `${label}: ${file.name}`,
    text: label,
    onclick: () => attempt(action),
  });
}

function setupLists() {
  const tabs = [...document.querySelectorAll("[data-list]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => attempt(async () => {
      selectTab(tabs, tab);
      view.list = tab.dataset.list;
      view.page = 1;
      await loadList();
    }));
  }
  arrowKeys(tabs[0].parentElement);
  $("prev-page").addEventListener("click", () => attempt(async () => {
    view.page = Math.max(1, view.page - 1);
    await loadList();
  }));
  $("next-page").addEventListener("click", () => attempt(async () => {
    view.page += 1;
    await loadList();
  }));
}

// --------------------------------------------------------------------------------- file actions
function startDownload(url) {
  const link = el("a", { href: url, rel: "noopener" });
  document.body.append(link);
  link.click();
  link.remove();
}

async function download(fileId) {
  const reply = await api.call("GET", `/api/files/f/${fileId}/download`);
  startDownload(reply.download_url);
  announce(`Downloading ${reply.file_name}`);
}

async function rename(file) {
  const input = el("input", { id: "rename-input", name: "name", required: "", maxlength: "255" });
  input.value = file.name;
  const body = el("div", {}, el("label", { for: "rename-input", text: "New name" }), input);
  if (!(await openDialog(`Rename “${file.name}”`, body, "Rename"))) return;
  const name = input.value.trim();
  if (!name || name === file.name) return;
  await api.call("PATCH", `/api/files/f/${file.file_id}`, { body: { name } });
  announce(`Renamed to ${name}`);
  await loadList();
}

async function copy(file) {
  await api.call("POST", `/api/files/f/${file.file_id}/copy`);
  showInfo(`A copy of “${file.name}” is in My files.`);
  await loadList();
}

async function remove(file) {
  const body = el("p", { text: `“${file.name}” will be deleted for you and everyone it is shared with.` });
  if (!(await openDialog("Delete this file?", body, "Delete", { danger: true }))) return;
  await api.call("DELETE", `/api/files/f/${file.file_id}`);
  announce(`Deleted ${file.name}`);
  await loadList();
}

async function addShortcut(file) {
  await api.call("POST", `/api/files/f/${file.file_id}/shortcut`);
  showInfo(`“${file.name}” is in your shortcuts.`);
}

async function removeShortcut(file) {
  await api.call("DELETE", `/api/files/f/${file.file_id}/shortcut`);
  announce(`Removed the shortcut to ${file.name}`);
  await loadList();
}

function publicPageUrl(fileId) {
  return `${location.origin}/p/${fileId}`;
}

async function publicLink(file) {
  if (!file.is_public) {
    await api.call("POST", `/api/files/f/${file.file_id}/public`);
    file.is_public = true;
  }
  const url = publicPageUrl(file.file_id);
  const input = el("input", { id: "public-url", readonly: "", value: url });
  const copied = el("p", { class: "hint", role: "status" });
  const body = el("div", {},
    el("label", { for: "public-url", text: "Anyone with this link can download the file" }),
    el("div", { class: "row" }, input, el("button", {
      type: "button",
      text: "Copy link",
      onclick: async () => {
        input.select();
        try {
          await navigator.clipboard.writeText(url);
          copied.textContent = "Copied.";
        } catch {
          copied.textContent = "Select the link and copy it (Ctrl+C).";
        }
      },
    })),
    copied);
  const makePrivate = await openDialog(`“${file.name}” is public`, body, "Make private",
    { danger: true, cancelLabel: "Close" });
  if (makePrivate) {
    await api.call("DELETE", `/api/files/f/${file.file_id}/public`);
    announce(`${file.name} is private again`);
  }
  await loadList();
}

function permissionSelect(id, value, label) {
  const select = el("select", { id, "aria-label": label },
    el("option", { value: "viewer", text: "Viewer" }),
    el("option", { value: "editor", text: "Editor" }));
  select.value = value;
  return select;
}

async function manageShares(file) {
  const list = el("ul", { class: "plain shares", "aria-label": "People with access" });
  const refresh = async () => {
    const shares = await api.call("GET", `/api/files/f/${file.file_id}/shares`);
    list.replaceChildren(...shares.map((share) => {
      const select = permissionSelect(`perm-${share.user_id}`, share.permission, `Permission of ${share.email}`);
      select.addEventListener("change", () => attempt(async () => {
        await api.call("PATCH", `/api/files/f/${file.file_id}/shares/${share.user_id}`,
          { body: { permission: select.value } });
        announce(`${share.email} is now ${select.value}`);
      }));
      return el("li", { class: "row" }, el("span", { class: "grow", text: share.email }), select,
        el("button", {
          type: "button",
          class: "small danger",
          text: "Revoke",
          "aria-label": `Revoke access of ${share.email}`,
          onclick: () => attempt(async () => {
            await api.call("DELETE", `/api/files/f/${file.file_id}/shares/${share.user_id}`);
            await refresh();
          }),
        }));
    }));
    if (shares.length === 0) list.append(el("li", { class: "hint", text: "Not shared with anyone yet." }));
  };
  const email = el("input", { id: "share-email", type: "email", autocomplete: "off" });
  const permission = permissionSelect("share-permission", "viewer", "Permission");
  const add = el("button", { type: "button", text: "Share", class: "primary" });
  add.addEventListener("click", () => attempt(async () => {
    if (!email.value.trim()) return;
    await api.call("POST", `/api/files/f/${file.file_id}/shares`,
      { body: { recipients: [{ email: email.value.trim(), permission: permission.value }] } });
    announce(`Shared with ${email.value.trim()}`);
    email.value = "";
    await refresh();
  }));
  email.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      add.click();
    }
  });
  await refresh();
  const body = el("div", {},
    el("label", { for: "share-email", text: "Share with (email)" }),
    el("div", { class: "row" }, email, permission, add),
    el("h3", { text: "People with access" }), list);
  await openDialog(`Share “${file.name}”`, body, "", { cancelLabel: "Done" });
}

// --------------------------------------------------------------------------------- uploads
function pendingUploads() {
  return new Pending(api.user.user_id);
}

function renderInterrupted() {
  const active = new Set([...view.uploads.values()].map((u) => u.uploadUuid));
  const entries = pendingUploads().all().filter((e) => !active.has(e.upload_uuid));
  $("interrupted").hidden = entries.length === 0;
  $("interrupted-list").replaceChildren(...entries.map((entry) => el("li", { class: "row" },
    el("span", { class: "grow", text: `${entry.name} (${formatBytes(entry.size)})` }),
    el("button", {
      type: "button",
      class: "small",
      text: "Discard",
      "aria-label": `Discard the interrupted upload of ${entry.name}`,
      onclick: () => attempt(async () => {
        pendingUploads().remove(entry.upload_uuid);
        renderInterrupted();
        await api.call("POST", "/api/upload/abort", { body: { upload_uuid: entry.upload_uuid } })
          .catch((error) => { if (error.status !== 404 && error.status !== 409) throw error; });
      }),
    }))));
}

function uploadItem(upload) {
  const progress = el("progress", { max: String(upload.total), value: "0", "aria-label": `Upload of ${upload.file.name}` });
  const detail = el("span", { class: "detail" });
  const cancel = el("button", {
    type: "button",
    class: "small",
    text: "Cancel",
    "aria-label": `Cancel the upload of ${upload.file.name}`,
    onclick: () => attempt(() => upload.cancel()),
  });
  const item = el("li", { class: "upload" },
    el("div", { class: "row" }, el("span", { class: "grow name", text: upload.file.name }), cancel),
    progress, detail);
  item.update = () => {
    progress.value = upload.sent;
    const sizes = `${formatBytes(upload.sent)} of ${formatBytes(upload.total)}`;
    const resumed = upload.resumedFrom > 0 ? ` · resumed from ${formatBytes(upload.resumedFrom)}` : "";
    const texts = {
      starting: "Starting…",
      uploading: `${sizes} · ${formatBytes(upload.speed)}/s · ${formatDuration(upload.eta)} left${resumed}`,
      completing: `${sizes} · finishing…`,
      completed: `Uploaded ${formatBytes(upload.total)}${resumed}`,
      cancelled: "Cancelled",
      failed: `Failed: ${upload.error && upload.error.message}`
        + (upload.error && upload.error.requestId ? ` (request id ${upload.error.requestId})` : ""),
    };
    detail.textContent = texts[upload.state];
    item.dataset.state = upload.state;
    item.dataset.method = upload.method;
    cancel.hidden = !["starting", "uploading"].includes(upload.state);
  };
  return item;
}

function startUploads(files) {
  clearNotice();
  for (const file of files) {
    let item = null;
    let lastPaint = 0;
    const upload = new Upload(api, pendingUploads(), file, () => {
      const t = performance.now();
      const final = !["starting", "uploading"].includes(upload.state);
      if (item && (final || t - lastPaint > 100)) {
        lastPaint = t;
        item.update();
      }
    });
    item = uploadItem(upload);
    item.update();
    $("uploads").prepend(item);
    const key = Symbol(file.name);
    view.uploads.set(key, upload);
    upload.start().then(() => {
      view.uploads.delete(key);
      renderInterrupted();
      if (upload.state === "completed") {
        announce(`Uploaded ${file.name}`);
        if (view.list === "owned" && view.page === 1) attempt(loadList);
      } else if (upload.state === "failed") {
        showError(upload.error);
      }
    });
  }
  renderInterrupted();
}

function setupUploads() {
  $("file-input").addEventListener("change", (event) => {
    startUploads([...event.target.files]);
    event.target.value = "";
  });
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    startUploads([...event.dataTransfer.files]);
  });
  window.addEventListener("beforeunload", (event) => {
    if ([...view.uploads.values()].some((u) => u.state === "uploading")) event.preventDefault();
  });
}

// --------------------------------------------------------------------------------- public page
async function showPublic(fileId) {
  $("loading").hidden = true;
  $("public-view").hidden = false;
  try {
    const response = await fetch(`/api/files/f/${encodeURIComponent(fileId)}`);
    if (!response.ok) throw response;
    const file = await response.json();
    $("public-name").textContent = file.name;
    $("public-size").textContent = formatBytes(file.size_bytes);
    $("public-type").textContent = file.mime_type || "file";
    document.title = `${file.name} · GoVault`;
    $("public-download").addEventListener("click", () => attempt(async () => {
      const reply = await api.call("GET", `/api/files/f/${fileId}/download`, { auth: false });
      startDownload(reply.download_url);
    }));
  } catch {
    $("public-name").textContent = "This file is not public, or it does not exist.";
    $("public-download").hidden = true;
    $("public-size").parentElement.hidden = true;
  }
}

// --------------------------------------------------------------------------------- start
function main() {
  $("notice-close").addEventListener("click", clearNotice);
  const publicMatch = location.pathname.match(/^\/p\/([0-9a-fA-F-]{36})$/);
  if (publicMatch) {
    showPublic(publicMatch[1]);
    return;
  }
  setupAuth();
  setupLists();
  setupUploads();
  if (api.user) attempt(showSignedIn);
  else showSignedOut();
}

main();
