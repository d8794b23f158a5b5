// Cameras grouped by district, then by the edge device that reads them, with the health each
// device last reported; a live-view button opens the live page (central/static/live.html) in a
// dialog. That page sends a bearer header, so it gets a 15-minute token made from this login
// (POST /api/v1/auth/short-token), in this tab's sessionStorage, where it looks for one.

import { api } from "../api.js";
import { clear, h } from "../dom.js";
import { formatAgo, formatNumber, formatTime, label, t } from "../i18n.js";

const REFRESH_MS = 5000;
const LIVE_TOKEN_KEY = "gridwatch-token"; // the key live.js reads

function groupBy(items, keyOf) {
  const groups = new Map();
  for (const item of items) {
    const key = keyOf(item);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(item);
  }
  return [...groups.entries()].sort(([a], [b]) => String(a).localeCompare(String(b)));
}

export function openLiveView(camera, { toast }) {
  const frame = h("iframe", { class: "live-frame", title: t("live.title", { camera: camera.name || camera.camera_id }), allow: "autoplay" });
  const dialog = h("dialog", { class: "live-dialog", id: "live-dialog" },
    h("div", { class: "dialog-head" },
      h("h2", {}, t("live.title", { camera: camera.name || camera.camera_id })),
      h("button", { type: "button", class: "ghost", id: "live-close", onclick: () => dialog.close() }, t("live.close"))),
    frame);
  dialog.addEventListener("close", () => { frame.src = "about:blank"; dialog.remove(); });
  document.body.append(dialog);
  dialog.showModal();
  api("/api/v1/auth/short-token", { method: "POST" }).then((short) => {
    sessionStorage.setItem(LIVE_TOKEN_KEY, short.token);
    const query = new URLSearchParams({ camera: camera.camera_id, device: camera.device_id });
    frame.src = `/live?${query}`;
  }).catch((error) => { dialog.close(); toast(error.message, "error"); });
  return dialog;
}

export function mountCameras(root, context) {
  const { me } = context;
  let alive = true;
  let timer = null;
  const body = h("div", { id: "cameras" }, h("p", { class: "muted" }, t("loading")));
  const stamp = h("p", { class: "muted", id: "cameras-updated" });

  function cameraCard(camera, device) {
    const online = device.state === "online";
    const state = online ? camera.state : "device_offline";
    return h("article", { class: `camera state-${state}`, dataset: { cameraId: camera.camera_id, deviceId: camera.device_id } },
      h("div", { class: "camera-head" },
        h("h4", {}, camera.name || camera.camera_id),
        h("span", { class: `badge camera-${state}` }, label("camera_state", state))),
      h("p", { class: "muted small" }, camera.camera_id),
      h("dl", { class: "health" },
        h("dt", {}, t("camera.fps")), h("dd", {}, t("camera.fps_value", { fps: formatNumber(camera.fps), analysed: formatNumber(camera.analysis_fps) })),
        h("dt", {}, t("camera.last_frame")), h("dd", { title: formatTime(camera.last_frame_at, { seconds: true }) },
          camera.last_frame_at ? formatAgo(camera.last_frame_at) : "—"),
        h("dt", {}, t("camera.reconnects")), h("dd", {}, String(camera.reconnects))),
      camera.last_error ? h("p", { class: "error small", title: camera.last_error }, camera.last_error) : null,
      h("div", { class: "buttons" },
        me.live_view ? h("button", { type: "button", class: "primary live-button", disabled: !online,
          title: online ? "" : t("live.device_offline"), onclick: () => openLiveView(camera, context) }, t("live.button")) : null,
        h("a", { class: "ghost button", href: `#/tickets?camera=${encodeURIComponent(camera.camera_id)}` }, t("camera.tickets"))));
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
    const cameras = devices.flatMap((device) => device.cameras.map((camera) => ({ camera, device })));
    if (!cameras.length) {
      clear(body, h("p", { class: "empty" }, t("camera.none")));
    } else {
      clear(body, groupBy(cameras, ({ camera }) => camera.district || "").map(([district, inDistrict]) =>
        h("section", { class: "district" },
          h("h2", {}, district ? label("district", district) : t("camera.no_district"),
            h("small", {}, ` · ${t("camera.count", { n: inDistrict.length })}`)),
          groupBy(inDistrict, ({ device }) => device.device_id).map(([deviceId, items]) => {
            const device = items[0].device;
            return h("div", { class: "device-group" },
              h("h3", {}, deviceId, " ", h("span", { class: `badge device-${device.state}` }, label("device_state", device.state))),
              h("div", { class: "camera-grid" }, items.map(({ camera }) => cameraCard(camera, device))));
          }))));
    }
    stamp.textContent = t("updated", { at: formatTime(new Date().toISOString(), { seconds: true }) });
  }

  async function loop() {
    await load();
    if (alive) timer = setTimeout(loop, REFRESH_MS);
  }

  clear(root, h("section", { class: "cameras-page" }, h("div", { class: "page-head" }, h("h1", {}, t("nav.cameras")), stamp), body));
  loop();
  return () => { alive = false; clearTimeout(timer); document.getElementById("live-dialog")?.close(); };
}
