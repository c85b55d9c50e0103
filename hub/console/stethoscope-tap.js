// The stethoscope's AudioWorklet (docs/design.md, "The stethoscope: the GP's side"): it hands the
// main thread every sample, in blocks, of the filtered sound (input 0, drawn as a phonocardiogram)
// and of the sound as received (input 1, kept for recordings). It never alters what it reads.

const BLOCK = 1024; // samples: about 21 ms at 48 kHz

class StethoscopeTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data === "stop") this.running = false;
    };
    this.fresh();
  }

  fresh() {
    this.filtered = new Float32Array(BLOCK);
    this.raw = new Float32Array(BLOCK);
    this.fill = 0;
  }

  process(inputs) {
    const filtered = inputs[0]?.[0];
    const raw = inputs[1]?.[0];
    const length = filtered?.length ?? raw?.length ?? 0; // an input with no channel is silence
    for (let i = 0; i < length; i += 1) {
      this.filtered[this.fill] = filtered ? filtered[i] : 0;
      this.raw[this.fill] = raw ? raw[i] : 0;
      this.fill += 1;
      if (this.fill === BLOCK) {
        this.port.postMessage({ filtered: this.filtered, raw: this.raw }, [this.filtered.buffer, this.raw.buffer]);
        this.fresh();
      }
    }
    return this.running;
  }
}

registerProcessor("stethoscope-tap", StethoscopeTap);
