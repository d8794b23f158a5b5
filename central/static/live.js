// Live view of one camera: a receive-only WebRTC peer whose offer goes to the central service,
// which forwards it to the camera's edge and returns the edge's answer. No build step, no imports.
// Query parameters: token, camera, device (optional); with token and camera the view starts at once.
// State for tests and tools: window.gridwatchLive = {pc, sessionId, mode, firstFrameMs, error, stalled}.

const $ = (id) => document.getElementById(id);
const GATHER_TIMEOUT_MS = 2000;
const FIRST_FRAME_TIMEOUT_MS = 10000;
const RECOVER_TIMEOUT_MS = 8000;
const STALL_MS = 4000;
const STALL_CHECK_MS = 1000;
const live = (window.gridwatchLive = {
  pc: null, sessionId: null, mode: null, firstFrameMs: null, error: null, stalled: false,
});
let current = null; // {pc, camera, device, token, sessionId}

function say(text) { $("status").textContent = text; }
function fail(text) {
  live.error = text;
  $("error").textContent = text;
  say("");
}

async function api(path, token, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (typeof body.detail === "string") detail = body.detail;
      else if (Array.isArray(body.detail)) detail = body.detail.map((d) => d.msg).join("; ");
    } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(response.status === 401 ? `not logged in: ${detail}` : detail);
  }
  return response.status === 204 ? null : response.json();
}

function gathered(pc) {
  // Signalling is one request, so the offer must carry its candidates; host candidates take
  // milliseconds, a slow STUN/TURN server is not waited for beyond GATHER_TIMEOUT_MS.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT_MS);
  });
}

function watchFirstFrame(video, startedAt) {
  const shown = () => {
    if (live.firstFrameMs !== null) return;
    live.firstFrameMs = Math.round(performance.now() - startedAt);
    say(`live (${live.mode}) · first frame after ${live.firstFrameMs} ms · ${video.videoWidth}×${video.videoHeight}`);
  };
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(shown);
  else video.addEventListener("loadeddata", shown, { once: true });
  setTimeout(() => {
    if (live.firstFrameMs === null && current && !live.error) {
      fail("no video arrived within 10 s: the connection between this browser and the edge may be blocked "
        + "(a TURN server may be needed)");
    }
  }, FIRST_FRAME_TIMEOUT_MS);
}

async function framesDecoded(pc) {
  let decoded = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") decoded = s.framesDecoded || 0;
  });
  return decoded;
}

function watchStalls(pc) {
  // A camera can die while the connection to the edge stays up (the edge keeps the session and
  // reconnects to the camera): only the frames stop. Decoded frames are counted from the
  // receiver's statistics, which go on in a background tab, where nothing is rendered.
  let decoded = -1;
  let changedAt = performance.now();
  const timer = setInterval(async () => {
    if (current?.pc !== pc) { clearInterval(timer); return; }
    const now = await framesDecoded(pc);
    if (now !== decoded) {
      decoded = now;
      changedAt = performance.now();
      if (live.stalled) {
        live.stalled = false;
        if (!live.error) $("error").textContent = "";
        say(`live (${live.mode}) · the video is back`);
      }
    } else if (!live.stalled && !live.error && live.firstFrameMs !== null && pc.connectionState === "connected"
      && performance.now() - changedAt > STALL_MS) {
      live.stalled = true;
      $("error").textContent = `the camera stopped sending video at ${new Date().toLocaleTimeString()} (it may be `
        + "offline, or the edge is reconnecting to it); the view resumes by itself when it is back";
      say("");
    }
  }, STALL_CHECK_MS);
}

async function start(token, camera, device) {
  await stop();
  live.error = null;
  live.stalled = false;
  live.firstFrameMs = null;
  $("error").textContent = "";
  const startedAt = performance.now();
  const query = device ? `?device_id=${encodeURIComponent(device)}` : "";
  const base = `/api/v1/cameras/${encodeURIComponent(camera)}/webrtc`;
  say(`connecting to ${camera}…`);
  try {
    const settings = await api("/api/v1/live/settings", token);
    const pc = new RTCPeerConnection({ iceServers: settings.ice_servers });
    current = { pc, camera, device, token, base, query, sessionId: null };
    live.pc = pc;
    const video = $("video");
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (event) => { video.srcObject = new MediaStream([event.track]); });
    let lost = null;
    pc.addEventListener("connectionstatechange", () => {
      clearTimeout(lost);
      if (pc.connectionState === "failed") fail("the video connection to the edge failed");
      if (pc.connectionState === "disconnected") {
        say("connection interrupted; waiting for it to recover…");
        lost = setTimeout(() => {
          if (current?.pc === pc && pc.connectionState === "disconnected") {
            fail("the edge stopped sending video (the edge or its network went away); press Live view to retry");
          }
        }, RECOVER_TIMEOUT_MS);
      }
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const answer = await api(base + query, token, {
      method: "POST", body: JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }),
    });
    if (current?.pc !== pc) return; // stopped meanwhile
    current.sessionId = live.sessionId = answer.session_id;
    current.device = answer.device_id;
    current.query = `?device_id=${encodeURIComponent(answer.device_id)}`;
    live.mode = answer.mode;
    say(`answered by ${answer.device_id} (${answer.mode}); waiting for the first frame…`);
    watchFirstFrame(video, startedAt);
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    watchStalls(pc);
  } catch (err) {
    await stop({ quiet: true });
    fail(`${camera}: ${err.message}`);
  }
}

async function stop({ quiet = false, unloading = false } = {}) {
  const closing = current;
  current = null;
  live.pc = null;
  live.sessionId = null;
  if (live.stalled) {
    live.stalled = false;
    $("error").textContent = "";
  }
  if (!closing) return;
  if (closing.sessionId) {
    // The edge ends the session on this request; keepalive: it still goes out while the tab closes.
    const request = fetch(`${closing.base}/${closing.sessionId}${closing.query}`, {
      method: "DELETE", keepalive: true, headers: { Authorization: `Bearer ${closing.token}` },
    }).catch(() => {});
    if (!unloading) await request;
  }
  closing.pc.close(); // the edge would also notice this by itself (DTLS close, or silence)
  $("video").srcObject = null;
  if (!quiet) say("stopped");
}

function init() {
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || sessionStorage.getItem("gridwatch-token") || "";
  $("token").value = token;
  $("camera").value = params.get("camera") || "";
  $("device").value = params.get("device") || "";
  if (params.has("token")) { // keep the token out of the address bar and history
    sessionStorage.setItem("gridwatch-token", token);
    params.delete("token");
    history.replaceState(null, "", `${location.pathname}${params.size ? "?" + params : ""}`);
  }
  $("controls").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("gridwatch-token", $("token").value.trim());
    start($("token").value.trim(), $("camera").value.trim(), $("device").value.trim());
  });
  $("stop").addEventListener("click", () => stop());
  window.addEventListener("pagehide", () => stop({ quiet: true, unloading: true }));
  if (token && $("camera").value) start(token, $("camera").value.trim(), $("device").value.trim());
}

init();
