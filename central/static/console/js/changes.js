// Ticket changes pushed by the central service as server-sent events (/api/v1/ticket-changes; see
// central/changes.py). Each message names a ticket; views refetch what they show.
// The browser reconnects by itself; when the service cannot replay what was missed it says so
// ("ready" with resumed: false, or "reset") and listeners get {reload: true}.

const listeners = new Set();
let source = null;
const stats = (window.gridwatchConsole ??= {}).changes = { connected: false, received: 0, reloads: 0 };

function emit(change) {
  for (const listener of listeners) listener(change);
}

export function onTicketChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function startChanges(onClosed) {
  if (source) return;
  source = new EventSource("/api/v1/ticket-changes");
  source.addEventListener("ready", (event) => {
    stats.connected = true;
    if (!JSON.parse(event.data).resumed) { stats.reloads += 1; emit({ reload: true }); }
  });
  source.addEventListener("ticket", (event) => { stats.received += 1; emit(JSON.parse(event.data)); });
  source.addEventListener("reset", () => { stats.reloads += 1; emit({ reload: true }); });
  source.addEventListener("error", () => {
    stats.connected = false;
    if (source && source.readyState === EventSource.CLOSED) { // refused (e.g. logged out): not retried by the browser
      source = null;
      onClosed?.();
    }
  });
}

export function stopChanges() {
  source?.close();
  source = null;
  stats.connected = false;
}
