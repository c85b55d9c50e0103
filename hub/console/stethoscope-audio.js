// The stethoscope heard and drawn (docs/design.md, "The stethoscope: the GP's side"): the received
// track through the band the GP chose (heart or lung) to her headphones, drawn live as a
// phonocardiogram (the filtered sound's envelope) or a spectrogram (0-2 kHz), both scrolling over
// five seconds; every received sample is handed on for recordings. Web Audio only reads the track:
// the station's sound is never altered, and a recording is the sound as received.

import { fitCanvas } from "/ui/dom.js";

export const MODES = ["heart", "lung"];
const BANDS = { heart: [20, 200], lung: [100, 1200] }; // Hz: the bell's low band, the diaphragm's breath sounds
const SECONDS = 5;
const ENVELOPE_HZ = 100;
const ENVELOPE_FLOOR = 0.01; // full scale never below -40 dBFS: silence draws flat, not magnified noise
const SPECTRUM_MAX_HZ = 2000;
const PALETTE = Array.from({ length: 256 }, (_, v) => `hsl(${230 - (v * 180) / 255}, 85%, ${6 + (v * 56) / 255}%)`);

export class StethAudio {
  /** @param {HTMLCanvasElement} canvas  @param {{onSamples: (raw: Float32Array, rate: number) => void}} options */
  constructor(canvas, { onSamples }) {
    this.canvas = canvas;
    this.onSamples = onSamples;
    this.ctx = null;
    this.loaded = null;
    this.nodes = null;
    this.token = null;
    this.mode = "heart";
    this.volume = 0.8;
    this.frame = 0;
    this.envelope = new Float32Array(SECONDS * ENVELOPE_HZ);
    this.peak = { value: 0, count: 0 };
    this.lastDraw = 0;
    this.shift = 0;
    new ResizeObserver(() => fitCanvas(canvas)).observe(canvas);
  }

  get running() {
    return this.nodes !== null;
  }

  /** Create or wake the AudioContext; call it from the GP's click, so the browser lets it play. */
  unlock() {
    this.ctx ??= new AudioContext({ latencyHint: "interactive" });
    if (this.ctx.state === "suspended") this.ctx.resume().catch((error) => console.warn("console: audio stays suspended", error));
    this.loaded ??= this.ctx.audioWorklet.addModule(new URL("./stethoscope-tap.js", import.meta.url));
    return this.loaded;
  }

  /** Hear and draw `track` until stop(). */
  async start(track) {
    this.stop();
    const token = Symbol("start");
    this.token = token;
    await this.unlock();
    if (this.token !== token) return;
    const ctx = this.ctx;
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const highpass = new BiquadFilterNode(ctx, { type: "highpass", Q: Math.SQRT1_2 });
    const lowpass = new BiquadFilterNode(ctx, { type: "lowpass", Q: Math.SQRT1_2 });
    const steep = new BiquadFilterNode(ctx, { type: "lowpass", Q: Math.SQRT1_2 });
    const gain = new GainNode(ctx, { gain: this.volume });
    const analyser = new AnalyserNode(ctx, { fftSize: 4096, smoothingTimeConstant: 0.3, minDecibels: -110, maxDecibels: -40 });
    const tap = new AudioWorkletNode(ctx, "stethoscope-tap", { numberOfInputs: 2, numberOfOutputs: 0 });
    source.connect(highpass).connect(lowpass).connect(steep);
    steep.connect(gain).connect(ctx.destination);
    steep.connect(analyser);
    steep.connect(tap, 0, 0);
    source.connect(tap, 0, 1);
    tap.port.onmessage = (event) => this.onBlock(event.data);
    this.nodes = { source, highpass, lowpass, steep, gain, analyser, tap };
    this.setMode(this.mode);
    this.schedule();
  }

  /** Silence and stop drawing (what is drawn stays until clearCanvas). */
  stop() {
    this.token = null;
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    const nodes = this.nodes;
    this.nodes = null;
    if (!nodes) return;
    nodes.tap.port.onmessage = null;
    nodes.tap.port.postMessage("stop");
    for (const node of Object.values(nodes)) node.disconnect();
  }

  setMode(mode) {
    this.mode = mode;
    const [low, high] = BANDS[mode];
    if (this.nodes) {
      const now = this.ctx.currentTime;
      this.nodes.highpass.frequency.setValueAtTime(low, now);
      this.nodes.lowpass.frequency.setValueAtTime(high, now);
      this.nodes.steep.frequency.setValueAtTime(high, now);
    }
    this.clearCanvas();
  }

  setVolume(volume) {
    this.volume = volume;
    if (this.nodes) this.nodes.gain.gain.setTargetAtTime(volume, this.ctx.currentTime, 0.02);
  }

  onBlock({ filtered, raw }) {
    const per = Math.round(this.ctx.sampleRate / ENVELOPE_HZ);
    const p = this.peak;
    for (const x of filtered) {
      p.value = Math.max(p.value, Math.abs(x));
      p.count += 1;
      if (p.count === per) {
        this.envelope.copyWithin(0, 1);
        this.envelope[this.envelope.length - 1] = p.value;
        p.value = 0;
        p.count = 0;
      }
    }
    this.onSamples(raw, this.ctx.sampleRate);
  }

  schedule() {
    this.frame = requestAnimationFrame((now) => {
      if (!this.nodes) return;
      this.draw(now);
      this.schedule();
    });
  }

  draw(now) {
    const ctx2d = this.canvas.getContext("2d");
    if (!ctx2d) return;
    if (this.mode === "heart") this.drawPhonocardiogram(ctx2d);
    else this.drawSpectrogram(ctx2d, now);
    this.canvas.dataset.drawn = String(Number(this.canvas.dataset.drawn || 0) + 1);
  }

  drawPhonocardiogram(g) {
    const { width, height } = this.canvas;
    g.clearRect(0, 0, width, height);
    const scale = Math.max(ENVELOPE_FLOOR, ...this.envelope) * 1.1;
    const step = width / (this.envelope.length - 1);
    const mid = height / 2;
    g.fillStyle = getComputedStyle(this.canvas).color;
    g.beginPath();
    g.moveTo(0, mid);
    this.envelope.forEach((v, i) => g.lineTo(i * step, mid - (v / scale) * mid));
    for (let i = this.envelope.length - 1; i >= 0; i -= 1) g.lineTo(i * step, mid + (this.envelope[i] / scale) * mid);
    g.closePath();
    g.fill();
    g.fillRect(0, mid - 0.5, width, 1);
  }

  drawSpectrogram(g, now) {
    const { width, height } = this.canvas;
    const analyser = this.nodes.analyser;
    this.shift += this.lastDraw ? ((now - this.lastDraw) / 1000) * (width / SECONDS) : 0;
    this.lastDraw = now;
    const px = Math.floor(this.shift);
    if (px < 1) return;
    this.shift -= px;
    g.drawImage(this.canvas, -px, 0);
    const bins = new Uint8Array(analyser.frequencyBinCount);
    analyser.getByteFrequencyData(bins);
    const shown = Math.min(bins.length, Math.ceil((SPECTRUM_MAX_HZ * analyser.fftSize) / this.ctx.sampleRate));
    const rowHeight = height / shown;
    for (let b = 0; b < shown; b += 1) {
      g.fillStyle = PALETTE[bins[b]];
      g.fillRect(width - px, height - (b + 1) * rowHeight, px, Math.ceil(rowHeight));
    }
  }

  /** Forget what was drawn and heard (a new mode, the end of the consultation). */
  clearCanvas() {
    this.envelope.fill(0);
    this.peak = { value: 0, count: 0 };
    this.lastDraw = 0;
    this.shift = 0;
    this.canvas.getContext("2d")?.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.canvas.dataset.drawn = "0";
    this.canvas.dataset.mode = this.mode;
  }
}
