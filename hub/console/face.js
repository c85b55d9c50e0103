// The face-to-face leg: the patient's video and sound large, the GP's camera small, with the
// browser's echo cancellation on the GP's microphone.

import { $, resetVideo } from "/ui/dom.js";
import { t } from "/ui/i18n.js";

const CONSTRAINTS = {
  video: { width: { ideal: 1280 }, height: { ideal: 720 } },
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
};

export class Face {
  constructor() {
    this.video = $("face-video");
    this.self = $("self-video");
    this.stream = null;
    this.mediaError = null;
    $("mic-toggle").addEventListener("click", () => this.toggle("audio"));
    $("cam-toggle").addEventListener("click", () => this.toggle("video"));
    $("unmute-button").addEventListener("click", () => this.play());
    this.reset();
  }

  /** The GP's camera and microphone, asked for once per consultation (concurrent offers share the request). */
  localStream() {
    if (!this.pending) this.pending = this.openStream(this.generation);
    return this.pending;
  }

  async openStream(generation) {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(CONSTRAINTS);
    } catch (error) {
      console.warn("console: camera or microphone unavailable", error);
      if (generation === this.generation) {
        this.mediaError = error?.name === "NotAllowedError" ? "denied" : "unavailable";
        this.pending = null; // the next offer asks again
        this.render();
      }
      return null;
    }
    if (generation !== this.generation) {
      // The consultation ended while the browser was asking: release the camera at once.
      for (const track of stream.getTracks()) track.stop();
      return null;
    }
    this.stream = stream;
    this.mediaError = null;
    this.self.srcObject = stream;
    this.self.play?.().catch(() => {});
    this.render();
    return stream;
  }

  /** Before answering an offer: send our tracks on the transceivers the cabin offered. */
  async prepare(pc) {
    const stream = await this.localStream();
    if (!stream) return; // receive only: the GP still sees and hears the patient
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
  }

  /** The patient's tracks arrived. */
  attach(event) {
    const stream = event.streams?.[0];
    if (stream) {
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
    } else {
      const current = this.video.srcObject instanceof MediaStream ? this.video.srcObject : new MediaStream();
      current.addTrack(event.track);
      this.video.srcObject = current;
    }
    this.play();
  }

  /** Play with sound; a browser that refuses (no gesture yet) gets an "enable sound" button. */
  play() {
    if (!this.video.srcObject) return;
    this.video.muted = false;
    const started = this.video.play();
    started?.then(() => {
      this.blocked = false;
      this.render();
    }).catch((error) => {
      if (error?.name === "NotAllowedError") {
        this.blocked = true;
        this.render();
      }
    });
  }

  toggle(kind) {
    if (!this.stream) return;
    const tracks = kind === "audio" ? this.stream.getAudioTracks() : this.stream.getVideoTracks();
    const enabled = !tracks.every((track) => track.enabled);
    for (const track of tracks) track.enabled = enabled;
    this.render();
  }

  /** The peer connection closed or was replaced: keep our camera for the next offer. */
  detach() {
    this.video.srcObject = null;
    this.render();
  }

  /** End of consultation: release the camera and microphone, drop the patient's stream. */
  reset() {
    this.generation = (this.generation ?? 0) + 1;
    this.pending = null;
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.mediaError = null;
    this.blocked = false;
    resetVideo(this.video);
    resetVideo(this.self);
    this.render();
  }

  render() {
    const audio = this.stream?.getAudioTracks() ?? [];
    const video = this.stream?.getVideoTracks() ?? [];
    // Without a stream the buttons are off and read as their usual action.
    const micOn = audio.every((track) => track.enabled);
    const camOn = video.every((track) => track.enabled);
    const mic = $("mic-toggle");
    mic.disabled = audio.length === 0;
    mic.dataset.state = audio.length === 0 ? "none" : micOn ? "on" : "off";
    mic.textContent = t(micOn ? "face.mic_off" : "face.mic_on");
    const cam = $("cam-toggle");
    cam.disabled = video.length === 0;
    cam.dataset.state = video.length === 0 ? "none" : camOn ? "on" : "off";
    cam.textContent = t(camOn ? "face.cam_off" : "face.cam_on");
    $("unmute-button").hidden = !this.blocked;
    $("face-empty").hidden = Boolean(this.video.srcObject);
    this.self.hidden = !this.self.srcObject;
    const warning = $("media-warning");
    warning.hidden = !this.mediaError;
    warning.textContent = this.mediaError ? t(`face.media_${this.mediaError}`) : "";
  }
}
