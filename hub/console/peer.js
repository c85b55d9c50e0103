// One media leg answered by the GP's browser. The cabin always offers (hub_protocol.py); every
// new offer replaces the previous peer connection, since the station renegotiates from scratch
// after a network drop. The answer goes out once ICE gathering completes (aiortc does not take
// trickled candidates reliably) or after a short wait; candidates found later are trickled.

const GATHER_WAIT_MS = 3000;

function waitForGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, GATHER_WAIT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** An RTCConfiguration: RTCIceServer objects from the hub's JSON, without null fields, and the hub's
 * transport policy ("relay": TURN candidates only). */
export function iceConfig(servers, policy) {
  const iceServers = (Array.isArray(servers) ? servers : []).map((s) => {
    const server = { urls: s.urls };
    if (typeof s.username === "string") server.username = s.username;
    if (typeof s.credential === "string") server.credential = s.credential;
    return server;
  });
  return { iceServers, iceTransportPolicy: policy === "relay" ? "relay" : "all" };
}

export class Leg {
  /**
   * @param {string} name  "instruments" or "face"
   * @param {{send: (payload: object) => boolean, iceServers: () => object[], icePolicy?: () => string, onTrack?: Function,
   *          onDataChannel?: Function, beforeAnswer?: (pc: RTCPeerConnection) => Promise<void>,
   *          onState?: (state: string) => void}} options
   */
  constructor(name, options) {
    this.name = name;
    this.options = options;
    this.pc = null;
    this.remoteSet = false;
    this.queued = [];
    this.answered = false;
    this.stats = new StatsSampler();
  }

  /** Answer a new offer on a fresh peer connection (closing the previous one). */
  async acceptOffer(description) {
    this.close();
    const pc = new RTCPeerConnection(iceConfig(this.options.iceServers(), this.options.icePolicy?.()));
    this.pc = pc;
    const mine = () => this.pc === pc;
    pc.onicecandidate = (event) => {
      // Before the answer is sent its SDP collects the candidates; afterwards they go one by one.
      if (mine() && this.answered && event.candidate && event.candidate.candidate) {
        this.options.send({ candidate: event.candidate.toJSON() });
      }
    };
    pc.ontrack = (event) => mine() && this.options.onTrack?.(event);
    pc.ondatachannel = (event) => mine() && this.options.onDataChannel?.(event.channel);
    pc.onconnectionstatechange = () => mine() && this.options.onState?.(pc.connectionState);
    this.options.onState?.("new");
    await pc.setRemoteDescription(description);
    if (!mine()) return;
    this.remoteSet = true;
    for (const candidate of this.queued.splice(0)) this.addCandidate(candidate);
    await this.options.beforeAnswer?.(pc);
    if (!mine()) return;
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForGathering(pc);
    if (!mine()) return;
    const local = pc.localDescription;
    this.answered = true;
    this.options.send({ description: { type: local.type, sdp: local.sdp } });
  }

  /** Whether the peer connection is up: a leg up goes on when the hub's connection drops, for media never
   * crosses it. */
  get up() {
    return this.pc?.connectionState === "connected";
  }

  /** A trickled candidate from the cabin's side. */
  addCandidate(candidate) {
    if (!this.pc) {
      console.warn(`console: ${this.name} candidate before any offer, ignored`);
      return;
    }
    if (!this.remoteSet) {
      this.queued.push(candidate);
      return;
    }
    if (!candidate.candidate) return; // the end of their gathering: nothing to add
    this.pc.addIceCandidate(candidate).catch((error) => console.warn(`console: ${this.name} candidate refused`, error));
  }

  /** Close the peer connection and forget it. */
  close() {
    const pc = this.pc;
    this.pc = null;
    this.remoteSet = false;
    this.answered = false;
    this.queued = [];
    this.stats.reset();
    if (pc) {
      pc.onicecandidate = pc.ontrack = pc.ondatachannel = pc.onconnectionstatechange = null;
      pc.close();
      this.options.onState?.("closed");
    }
  }

  /** The connection quality since the last call, or null without a connection. */
  async quality() {
    const pc = this.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    if (this.pc !== pc) return null;
    return this.stats.sample(report, pc.connectionState);
  }
}

/** Turns successive getStats() reports into round-trip time, loss, frame rate and bitrate. */
export class StatsSampler {
  constructor() {
    this.reset();
  }

  reset() {
    this.previous = null;
  }

  sample(report, connectionState) {
    let rttMs = null;
    let selectedPair = null;
    const inbound = { lost: 0, received: 0, bytes: 0, frames: 0, fps: null, hasVideo: false };
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) selectedPair = s.selectedCandidatePairId;
    });
    report.forEach((s) => {
      if (s.type === "candidate-pair") {
        const selected = selectedPair ? s.id === selectedPair : s.nominated && s.state === "succeeded";
        if (selected && typeof s.currentRoundTripTime === "number") rttMs = s.currentRoundTripTime * 1000;
      } else if (s.type === "inbound-rtp") {
        inbound.lost += Math.max(0, s.packetsLost ?? 0);
        inbound.received += s.packetsReceived ?? 0;
        if (s.kind === "video") {
          inbound.hasVideo = true;
          inbound.bytes += s.bytesReceived ?? 0;
          inbound.frames += s.framesDecoded ?? 0;
          if (typeof s.framesPerSecond === "number") inbound.fps = (inbound.fps ?? 0) + s.framesPerSecond;
        }
      }
    });
    const now = performance.now();
    const prev = this.previous;
    this.previous = { now, ...inbound };
    const result = { state: connectionState, rttMs, lossPct: null, fps: null, kbps: null };
    if (prev) {
      const seconds = (now - prev.now) / 1000;
      const lost = inbound.lost - prev.lost;
      const received = inbound.received - prev.received;
      if (lost + received > 0 && lost >= 0) result.lossPct = (100 * lost) / (lost + received);
      else if (received === 0 && lost === 0) result.lossPct = 0;
      if (inbound.hasVideo && seconds > 0) {
        result.kbps = Math.max(0, (8 * (inbound.bytes - prev.bytes)) / 1000 / seconds);
        result.fps = inbound.fps ?? Math.max(0, (inbound.frames - prev.frames) / seconds);
      }
    }
    result.level = qualityLevel(result);
    return result;
  }
}

/** good / fair / poor from round-trip time and loss; "down" when the connection failed. */
export function qualityLevel({ state, rttMs, lossPct }) {
  if (state === "failed" || state === "closed" || state === "disconnected") return "down";
  if (state !== "connected") return "connecting";
  const rtt = rttMs ?? 0;
  const loss = lossPct ?? 0;
  if (rtt < 200 && loss < 2) return "good";
  if (rtt < 500 && loss < 8) return "fair";
  return "poor";
}
