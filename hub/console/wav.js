// A WAV file (RIFF, 16-bit PCM, mono) from Web Audio's float samples: the stethoscope's recordings.

/** A Blob of type audio/wav holding `chunks` (Float32Arrays in -1..1) at `rate` samples a second. */
export function wavBlob(chunks, rate) {
  const count = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const buffer = new ArrayBuffer(44 + 2 * count);
  const view = new DataView(buffer);
  const ascii = (offset, text) => [...text].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 36 + 2 * count, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // the fmt chunk's size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true); // bytes a second
  view.setUint16(32, 2, true); // bytes a frame
  view.setUint16(34, 16, true); // bits a sample
  ascii(36, "data");
  view.setUint32(40, 2 * count, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const x of chunk) {
      const clipped = Math.max(-1, Math.min(1, x));
      view.setInt16(offset, Math.round(clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff), true);
      offset += 2;
    }
  }
  return new Blob([buffer], { type: "audio/wav" });
}
