// The chat panel: a thread id kept across reloads, the transcript, and live agent events.

import { api, url } from "./api.js";

const THREAD_KEY = "pakati.thread";

function newThread() {
  const id = "t-" + Math.random().toString(36).slice(2, 10);
  localStorage.setItem(THREAD_KEY, id);
  return id;
}

export class ChatPanel {
  /** `hooks`: onPlan(layout), onJob(job), onError(message). */
  constructor(root, hooks) {
    this.log = root.querySelector("#chat-log");
    this.form = root.querySelector("#chat-form");
    this.input = root.querySelector("#chat-input");
    this.label = root.querySelector("#chat-thread");
    this.hooks = hooks;
    this.thread = localStorage.getItem(THREAD_KEY) || newThread();
    this.seen = new Set();
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    root.querySelector("#chat-new").addEventListener("click", () => {
      this.thread = newThread();
      this.load();
    });
  }

  async load() {
    this.label.textContent = `thread ${this.thread}`;
    this.log.replaceChildren();
    this.seen.clear();
    const data = await api("GET", `/api/chat/${this.thread}`);
    for (const item of data.turns) this.add(item, false);
    if (data.unfinished) this.note("This thread's run stopped part-way: send any message to resume it.");
  }

  async send() {
    const message = this.input.value.trim();
    if (!message) return;
    this.input.value = "";
    try {
      const answer = await api("POST", "/api/chat", { thread: this.thread, message });
      this.hooks.onJob(answer.job);
    } catch (error) {
      this.hooks.onError(error.message);
    }
  }

  /** A `chat` event from the server. */
  event(data) {
    if (data.thread === this.thread) this.add(data.item, true);
  }

  note(text) {
    const div = document.createElement("div");
    div.className = "chat-item";
    div.textContent = text;
    this.log.append(div);
  }

  add(item, live) {
    if (item.n !== undefined) {
      if (this.seen.has(item.n)) return;
      this.seen.add(item.n);
    }
    const div = document.createElement("div");
    div.className = `chat-item ${item.role}` + (item.kind ? ` ${item.kind}` : "");
    div.dataset.kind = item.kind || item.role;
    if (item.role === "user") {
      div.textContent = item.text;
    } else if (item.kind === "plan" || item.kind === "edit") {
      div.textContent = (item.kind === "edit" ? "edited plan\n" : "") + item.summary;
      if (live && item.layout) this.hooks.onPlan(item.layout);
    } else if (item.kind === "pass") {
      div.textContent = `pass ${item.pass}`;
      const img = document.createElement("img");
      img.src = url(item.image);
      img.alt = `pass ${item.pass}`;
      div.append(img);
    } else if (item.kind === "critique") {
      div.append(`score ${item.score.toFixed(3)} ${item.passed ? "(passed)" : ""}`);
      for (const region of item.regions) {
        const line = document.createElement("div");
        line.className = `verdict ${region.passed ? "ok" : "fail"}`;
        line.textContent = `${region.name}: ${region.score.toFixed(3)} ${region.passed ? "ok" : region.problem || "fail"}`;
        div.append(line);
      }
      if (item.stop_reason) div.append(`stopping: ${item.stop_reason}`);
    } else if (item.kind === "refine") {
      div.textContent = "refiner: " + (item.changes.join("; ") || "no change") +
        `\nredraws: ${item.full ? "whole canvas" : item.regenerate.join(", ")}`;
    } else if (item.kind === "redraw") {
      div.textContent = item.full ? "redraws the whole canvas" :
        `regenerates: ${item.regenerated.join(", ") || "nothing"}; keeps exactly: ${item.kept.join(", ") || "none"}`;
    } else {
      div.textContent = item.text || JSON.stringify(item);
    }
    this.log.append(div);
    this.log.scrollTop = this.log.scrollHeight;
  }
}
