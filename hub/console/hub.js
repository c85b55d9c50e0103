// The GP's WebSocket to the hub (/ws/gp): validated messages in, reconnection with backoff.

import { hubMessage } from "./validate.js";

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

export class HubSocket {
  /**
   * @param {{onMessage: (m: object) => void, onStatus: (s: "connecting"|"open"|"reconnecting"|"closed") => void,
   *          onClosed: () => Promise<boolean>}} handlers  onClosed says whether to try again (false: logged out)
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.running = false;
  }

  get url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws/gp`;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = socket.onmessage = socket.onerror = socket.onopen = null;
      socket.close(1000);
    }
    this.handlers.onStatus("closed");
  }

  /** Send a message to the hub; false when the socket is not open. */
  send(message) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({ v: 1, ...message }));
    return true;
  }

  /** The hub accepted us: the next drop starts the backoff from the beginning. */
  confirmed() {
    this.attempt = 0;
  }

  connect() {
    this.handlers.onStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      console.warn("console: cannot open the hub socket", error);
      this.retry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.handlers.onStatus("open");
    socket.onmessage = (event) => {
      const message = hubMessage(event.data);
      if (!message) return;
      try {
        this.handlers.onMessage(message);
      } catch (error) {
        console.warn("console: handling a hub message failed", error);
      }
    };
    socket.onerror = () => {}; // onclose follows and decides
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.retry();
    };
  }

  async retry() {
    if (!this.running) return;
    this.handlers.onStatus("reconnecting");
    let again = true;
    try {
      again = await this.handlers.onClosed();
    } catch (error) {
      console.warn("console: checking the session after a drop failed", error);
    }
    if (!this.running || !again) return;
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base * (0.75 + Math.random() * 0.5); // jitter: GPs do not all come back at once
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.running) this.connect();
    }, delay);
  }
}
