// Edge devices: online or offline (the MQTT last will), version, last seen, undelivered events, and the
// evidence disk (ok, low: evidence is evicted for space, full: events go without evidence).

import { api } from "../api.js";
import { clear, h } from "../dom.js";
import { formatAgo, formatNumber, formatTime, label, t } from "../i18n.js";

const REFRESH_MS = 5000;
const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];

// Decimal units, as disk makers and file managers count them: 3.3 TB, 812 MB.
function formatBytes(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${formatNumber(value, unit && value < 10 ? 1 : 0)} ${BYTE_UNITS[unit]}`;
}

// Null from edges that do not report their disk (older versions).
function disk(storage) {
  if (!storage) return "—";
  return [h("span", { class: `badge storage-${storage.state}`, title: t("device.disk_evidence", { size: formatBytes(storage.evidence_bytes) }) },
    label("storage_state", storage.state)),
  h("small", {}, t("device.disk_free", { size: formatBytes(storage.free_bytes) }))];
}

export function mountDevices(root) {
  let alive = true;
  let timer = null;
  const body = h("div", { id: "devices" }, h("p", { class: "muted" }, t("loading")));
  const stamp = h("p", { class: "muted" });

  function row(device) {
    // an offline device's cameras keep their last reported state, which no longer holds
    const streaming = device.state === "online" ? device.cameras.filter((c) => c.state === "streaming").length : 0;
    const cell = (key, ...content) => h("span", { class: "cell", role: "cell", dataset: { label: t(`device.col.${key}`) } }, ...content);
    return h("div", { class: `row device-row state-${device.state}`, role: "row", dataset: { deviceId: device.device_id } },
      h("span", { class: "cell name", role: "cell" }, h("strong", {}, device.device_id)),
      h("span", { class: "cell state", role: "cell" }, h("span", { class: `badge device-${device.state}` }, label("device_state", device.state))),
      cell("version", device.version || "—"),
      cell("last_seen", formatAgo(device.last_seen_at), h("small", {}, formatTime(device.last_seen_at, { seconds: true }))),
      cell("cameras", t("device.cameras_streaming", { streaming, total: device.cameras.length })),
      cell("pending", h("span", { class: device.outbox_pending ? "late" : "" }, t("device.pending", { n: device.outbox_pending }))),
      cell("disk", disk(device.storage)));
  }

  async function load() {
    let devices;
    try {
      devices = await api("/api/v1/devices");
    } catch (error) {
      if (alive) clear(body, h("p", { class: "error" }, error.message));
      return;
    }
    if (!alive) return;
    const online = devices.filter((d) => d.state === "online").length;
    clear(body, devices.length
      ? [h("p", { class: "muted" }, t("device.summary", { online, total: devices.length })),
        h("div", { class: "table devices", role: "table" },
          h("div", { class: "row head", role: "row" }, ["device", "state", "version", "last_seen", "cameras", "pending", "disk"]
            .map((key) => h("span", { class: "cell", role: "columnheader" }, t(`device.col.${key}`)))),
          devices.map(row))]
      : h("p", { class: "empty" }, t("device.none")));
    stamp.textContent = t("updated", { at: formatTime(new Date().toISOString(), { seconds: true }) });
  }

  async function loop() {
    await load();
    if (alive) timer = setTimeout(loop, REFRESH_MS);
  }

  clear(root, h("section", { class: "devices-page" }, h("div", { class: "page-head" }, h("h1", {}, t("nav.devices")), stamp), body));
  loop();
  return () => { alive = false; clearTimeout(timer); };
}
