"use strict";
// The party button's page: the live stream from /api/events, commands to /api/*.

const $ = (id) => document.getElementById(id);
const page = { holdTime: 2, maxUploadMb: 200, extensions: [] };
let state = null; // the daemon's state as last streamed
let stateAt = 0; // when it arrived (performance.now(), ms)
let stream = null;

// -- talking to the service ----------------------------------------------------------

async function api(path, options = {}) {
  const answer = await fetch(path, { credentials: "same-origin", ...options });
  if (answer.status === 401) {
    location.assign("/login");
    throw new Error("logged out");
  }
  const body = await answer.json().catch(() => ({ error: `error ${answer.status}` }));
  if (!answer.ok) throw new Error(body.error || `error ${answer.status}`);
  return body;
}

async function send(command) {
  $("command-message").textContent = "";
  try {
    await api(`/api/${command}`, { method: "POST" });
  } catch (error) {
    $("command-message").textContent = error.message;
  }
}

// -- the live stream -----------------------------------------------------------------

function showLink(kind, text) {
  const banner = $("link");
  banner.dataset.state = kind;
  banner.textContent = text;
  for (const id of ["party", "stop", "next", "hold"]) $(id).disabled = kind !== "up";
}

function connect() {
  if (stream) stream.close();
  stream = new EventSource("/api/events");
  stream.onmessage = (event) => receive(JSON.parse(event.data));
  stream.onerror = async () => {
    showLink("lost", "Connection to the party button lost: reconnecting…");
    if (stream.readyState === EventSource.CLOSED) {
      // The service answered with an error (logged out, restarted): look, then retry.
      try {
        await api("/api/page");
      } catch (error) {
        /* api() went to the login page if the session is over */
      }
      setTimeout(connect, 2000);
    }
  };
}

function receive(message) {
  if (message.type === "link") {
    if (message.daemon) showLink("up", "Connected to the party button.");
    else showLink("down", `The party button is not running: ${message.problem}`);
  } else if (message.type === "state") {
    state = { ...(state || {}), ...message };
    stateAt = performance.now();
    render();
  } else if (message.type === "library") {
    loadSongs();
  } else if (message.type === "parties") {
    showParties(message.parties);
  } else if (message.type === "rooms") {
    showRooms(message);
  } else if (message.type === "event" && message.event === "stopping") {
    showLink("down", "The party button is shutting down.");
  } else if (message.type === "reconnect") {
    setTimeout(connect, 500); // the service ended this stream (it fell behind, or restarts)
  }
}

// -- what the page shows -------------------------------------------------------------

function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function elapsed() {
  return (performance.now() - stateAt) / 1000;
}

function render() {
  if (!state) return;
  $("phase").textContent = state.phase;
  $("playing").textContent = state.playing ? `Playing ${state.playing}` : "Nothing plays.";
  const lamps = $("lamps");
  const relays = Object.entries(state.relays || {});
  if (lamps.children.length !== relays.length) {
    lamps.replaceChildren(
      ...relays.map(([name]) => {
        const item = document.createElement("li");
        item.dataset.relay = name;
        item.innerHTML = '<span class="lamp" aria-hidden="true"></span><span class="name"></span>';
        item.querySelector(".name").textContent = name;
        return item;
      }),
    );
  }
  for (const [name, on] of relays) {
    const item = lamps.querySelector(`li[data-relay="${CSS.escape(name)}"]`);
    item.dataset.on = on;
    item.querySelector(".lamp").classList.toggle("on", on);
    item.setAttribute("aria-label", `${name} ${on ? "on" : "off"}`);
  }
  $("song-count").textContent = `(${state.songs})`;
  tick();
}

function tick() {
  if (!state) return;
  const partying = state.phase === "party" && state.playing;
  const position = state.position + (partying ? elapsed() : 0);
  const length = state.length;
  $("progress").value = length ? Math.min(1, position / length) : 0;
  $("time").textContent = partying
    ? `${clock(position)}${length ? ` / ${clock(length)}` : ""}`
    : "";
  const next = state.next_phase;
  let text = "";
  if (next) {
    let left = next.in === null ? null : next.in - elapsed();
    if (left === null && partying && length) left = length - position;
    text = left === null ? `then ${next.phase}` : `then ${next.phase} in ${clock(left)}`;
  }
  $("next-phase").textContent = text;
}

// -- the big button: tap = press, hold = the panic stop, as on the real one ---------------

function setUpButton() {
  const button = $("party");
  let timer = null;
  let handled = false; // a pointer or key press; the click that follows is not a second one

  const down = () => {
    if (timer !== null || button.disabled) return;
    handled = true;
    button.classList.add("down");
    send("press");
    timer = setTimeout(() => {
      timer = null;
      button.classList.add("held");
      send("hold");
    }, page.holdTime * 1000);
  };
  const up = () => {
    clearTimeout(timer);
    timer = null;
    button.classList.remove("down", "held");
  };
  button.addEventListener("pointerdown", (event) => {
    button.setPointerCapture(event.pointerId);
    down();
  });
  for (const name of ["pointerup", "pointercancel", "lostpointercapture"]) {
    button.addEventListener(name, up);
  }
  button.addEventListener("keydown", (event) => {
    if ((event.key === " " || event.key === "Enter") && !event.repeat) {
      event.preventDefault();
      down();
    }
  });
  button.addEventListener("keyup", (event) => {
    if (event.key === " " || event.key === "Enter") up();
  });
  button.addEventListener("click", () => {
    // A screen reader activates the button with a click alone: that is a press.
    if (!handled) send("press");
    handled = false;
  });
  button.addEventListener("contextmenu", (event) => event.preventDefault());
  $("stop").addEventListener("click", () => send("stop"));
  $("next").addEventListener("click", () => send("next"));
  $("hold").addEventListener("click", () => send("hold"));
}

// -- songs -------------------------------------------------------------------------------

let searchTimer = null;
let listing = 0; // the latest listing asked for: an older answer is not shown

async function loadSongs() {
  const query = $("search").value;
  const mine = ++listing;
  try {
    const body = await api(`/api/songs?q=${encodeURIComponent(query)}`);
    if (mine !== listing) return;
    const grids = { ready: "beat grid", stale: "beat grid out of date", none: "no beat grid" };
    $("songs").replaceChildren(
      ...body.songs.map((song) => {
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.textContent = song.name;
        const grid = document.createElement("span");
        grid.className = "grid";
        grid.textContent = grids[song.grid];
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "Delete";
        remove.setAttribute("aria-label", `Delete ${song.name}`);
        remove.addEventListener("click", () => deleteSong(song.name));
        const label = document.createElement("span");
        label.append(name, document.createElement("br"), grid);
        item.append(label, remove);
        return item;
      }),
    );
    const hidden = body.total - body.songs.length;
    $("songs-more").textContent = hidden > 0 ? `${hidden} more: search to narrow down.` : "";
  } catch (error) {
    $("songs-more").textContent = error.message;
  }
}

async function deleteSong(name) {
  if (!confirm(`Delete ${name}?`)) return;
  try {
    await api(`/api/songs/${name.split("/").map(encodeURIComponent).join("/")}`, {
      method: "DELETE",
    });
  } catch (error) {
    $("songs-more").textContent = error.message;
  }
  loadSongs();
}

function result(text, kind) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  $("upload-results").append(item);
}

async function upload(event) {
  event.preventDefault();
  const files = [...$("files").files];
  $("upload-results").replaceChildren();
  if (!files.length) result("Choose one or more songs first.", "refused");
  for (const file of files) {
    const megabytes = file.size / 1024 ** 2;
    if (megabytes > page.maxUploadMb) {
      result(`${file.name}: ${Math.round(megabytes)} MB is over the upload limit of ` +
        `${page.maxUploadMb} MB`, "refused");
      continue;
    }
    result(`${file.name}: uploading…`, "busy");
    const item = $("upload-results").lastChild;
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      await api("/api/songs", { method: "POST", body: form });
      item.className = "saved";
      item.textContent = `${file.name}: added`;
    } catch (error) {
      item.className = "refused";
      item.textContent = error.message;
    }
  }
  $("files").value = "";
  loadSongs();
}

function showParties(parties) {
  $("parties").replaceChildren(
    ...parties.map((party) => {
      const item = document.createElement("li");
      const when = party.started ? new Date(party.started * 1000).toLocaleTimeString() : "";
      const how = party.ended ? party.how : "going on";
      const songs = party.songs.length ? party.songs.join(", ") : "no song";
      item.textContent = `${when}: ${songs} (${how})`;
      return item;
    }),
  );
}

// -- rooms (sync on): names come from other machines, so they are only ever text ------------

function showRooms(view) {
  $("sync").hidden = false;
  const role = view.role === "leader"
    ? `This Pi leads the rooms: it is ${view.room}.`
    : `This Pi is the room ${view.room}, following the leader ${view.leader}.`;
  $("sync-role").textContent = view.role ? role : "";
  $("sync-error").textContent = view.error || "";
  $("rooms").replaceChildren(
    ...view.rooms.map((room) => {
      const item = document.createElement("li");
      item.dataset.state = room.state;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = room.here ? `${room.name} (this Pi)` : room.name;
      const state = document.createElement("span");
      state.className = "state";
      state.textContent = room.why ? `${room.label}: ${room.why}` : room.label;
      item.append(name, document.createElement("br"), state);
      return item;
    }),
  );
}

// -- start ---------------------------------------------------------------------------------

async function start() {
  try {
    const settings = await api("/api/page");
    page.holdTime = settings.hold_time;
    page.maxUploadMb = settings.max_upload_mb;
    page.extensions = settings.extensions;
    $("hold-time").textContent = page.holdTime;
  } catch (error) {
    $("command-message").textContent = error.message;
  }
  setUpButton();
  showLink("connecting", "Connecting…");
  connect();
  loadSongs();
  api("/api/status").then((body) => showParties(body.parties)).catch(() => {});
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(loadSongs, 200);
  });
  $("upload").addEventListener("submit", upload);
  $("logout").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
    location.assign("/login");
  });
  setInterval(tick, 500);
}

start();
