// keras-musicvae web: the page's logic. The model runs here, in magenta.js
// (`mm`, loaded by index.html); the server only sends files.
//
// The page's state is shown in #status, whose data-state is "loading",
// "busy", "ready" or "error" (tests wait on it).
'use strict';

(function () {
  const MODEL_URL = new URL('model', document.baseURI).href;
  const DEFAULT_STEPS_PER_QUARTER = 4;
  const DEFAULT_VELOCITY = 100;

  const page = {
    model: null,
    spec: null,
    shown: null, // the NoteSequence on the piano roll
    shownName: 'music',
    steps: [], // the interpolation, one NoteSequence per step
    stepEnds: [], // the names of its two MIDI files
    player: null,
    busy: true,
  };

  function element(id) {
    return document.getElementById(id);
  }

  function setStatus(state, text) {
    const status = element('status');
    status.dataset.state = state;
    status.textContent = text;
  }

  // Buttons are usable only when the model is loaded and nothing runs.
  function updateButtons() {
    const idle = page.model !== null && !page.busy;
    element('sample').disabled = !idle;
    element('interpolate').disabled = !idle;
    element('step').disabled = !idle || page.steps.length === 0;
    element('download').disabled = page.shown === null;
    element('play').disabled = page.shown === null;
  }

  async function whileBusy(text, work) {
    page.busy = true;
    updateButtons();
    setStatus('busy', text);
    try {
      await work();
      setStatus('ready', 'Ready.');
    } catch (error) {
      console.error(error);
      setStatus('error', error.message || String(error));
    } finally {
      page.busy = false;
      updateButtons();
    }
  }

  // ------------------------------------------------------------ model
  function converterArgs() {
    return (page.spec && page.spec.dataConverter && page.spec.dataConverter.args) || {};
  }

  function describeModel(spec) {
    const args = spec.dataConverter.args || {};
    const parts = [spec.dataConverter.type, `${args.numSteps} steps`];
    if (args.numSegments) {
      parts.push(`${args.numSegments} segments`);
    }
    const keras = spec.kerasMusicVAE && spec.kerasMusicVAE.config;
    if (keras && keras.z_size) {
      parts.push(`latent size ${keras.z_size}`);
    }
    if (spec.chordEncoder) {
      parts.push('over chords');
    }
    return parts.join(' · ');
  }

  async function loadModel() {
    if (typeof window.mm === 'undefined') {
      const script = document.querySelector('script[data-magentajs]');
      throw new Error(
        `magenta.js did not load from ${script ? script.src : 'its URL'}. Without network access, ` +
        'start keras-musicvae web with --magentajs PATH/TO/magentamusic.js.');
    }
    const response = await fetch(`${MODEL_URL}/config.json`);
    if (!response.ok) {
      throw new Error(`The model's config.json could not be fetched (HTTP ${response.status}).`);
    }
    page.spec = await response.json();
    element('model-info').textContent = describeModel(page.spec);
    element('chords-row').hidden = !page.spec.chordEncoder;
    const model = new mm.MusicVAE(MODEL_URL);
    await model.initialize();
    page.model = model;
  }

  // magenta.js decodes by argmax when no temperature is given.
  function temperature() {
    const value = parseFloat(element('temperature').value);
    return value > 0 ? value : undefined;
  }

  function controlArgs() {
    if (!page.spec.chordEncoder) {
      return undefined;
    }
    const chords = element('chords').value.trim().split(/\s+/).filter(Boolean);
    if (chords.length === 0) {
      throw new Error('This model plays over chords: type some in "Chords", e.g. C G Am F.');
    }
    return {chordProgression: chords};
  }

  // ------------------------------------------------------------ showing music
  function show(sequence, name, caption) {
    stopPlaying();
    page.shown = sequence;
    page.shownName = name;
    element('caption').textContent = caption;
    const svg = element('roll');
    while (svg.firstChild) {
      svg.removeChild(svg.firstChild);
    }
    if (!sequence.notes || sequence.notes.length === 0) {
      svg.setAttribute('width', '0');
      svg.setAttribute('height', '0');
      element('caption').textContent = `${caption} (no notes)`;
      page.visualizer = null;
    } else {
      page.visualizer = new mm.PianoRollSVGVisualizer(sequence, svg, {
        noteHeight: 5,
        pixelsPerTimeStep: pixelsPerSecond(sequence),
        noteRGB: '47, 111, 219',
        activeNoteRGB: '230, 90, 40',
      });
    }
    updateButtons();
  }

  // Stretches the music over the width of the roll's frame.
  function pixelsPerSecond(sequence) {
    let seconds = sequence.totalTime;
    if (sequence.quantizationInfo && sequence.quantizationInfo.stepsPerQuarter) {
      const qpm = (sequence.tempos && sequence.tempos.length > 0 && sequence.tempos[0].qpm) || 120;
      seconds = sequence.totalQuantizedSteps / sequence.quantizationInfo.stepsPerQuarter * 60 / qpm;
    }
    const width = element('roll').parentElement.clientWidth - 24;
    return seconds > 0 ? Math.max(20, width / seconds) : 60;
  }

  async function sample() {
    const [sequence] = await page.model.sample(1, temperature(), controlArgs());
    const shownTemperature = element('temperature').value;
    show(sequence, 'sample', `A sample at temperature ${shownTemperature}.`);
  }

  // ------------------------------------------------------------ interpolation
  async function readMidi(input, which) {
    const file = input.files && input.files[0];
    if (!file) {
      throw new Error(`Choose the "${which}" MIDI file first.`);
    }
    let sequence;
    try {
      sequence = await mm.blobToNoteSequence(file);
    } catch (error) {
      throw new Error(`${file.name}: not a MIDI file magenta.js can read (${error.message || error}).`);
    }
    if (!sequence.notes || sequence.notes.length === 0) {
      throw new Error(`${file.name}: the MIDI file has no notes.`);
    }
    // The GrooVAE converter quantizes by itself (it keeps the timing offsets);
    // the others read quantized sequences.
    if (page.spec.dataConverter.type === 'GrooveConverter') {
      return sequence;
    }
    const stepsPerQuarter = converterArgs().stepsPerQuarter || DEFAULT_STEPS_PER_QUARTER;
    return mm.sequences.quantizeNoteSequence(sequence, stepsPerQuarter);
  }

  async function interpolate() {
    const from = await readMidi(element('midi-a'), 'From');
    const to = await readMidi(element('midi-b'), 'To');
    const count = parseInt(element('steps').value, 10);
    if (!(count >= 2 && count <= 32)) {
      throw new Error('Steps must be a whole number from 2 to 32.');
    }
    page.steps = await page.model.interpolate([from, to], count, temperature(), controlArgs());
    page.stepEnds = [element('midi-a').files[0].name, element('midi-b').files[0].name];
    const slider = element('step');
    slider.max = String(page.steps.length - 1);
    slider.value = '0';
    showStep(0);
  }

  function showStep(index) {
    const count = page.steps.length;
    element('step-value').textContent = `${index + 1} of ${count}`;
    let where = '';
    if (index === 0) {
      where = ` (the model's version of ${page.stepEnds[0]})`;
    } else if (index === count - 1) {
      where = ` (the model's version of ${page.stepEnds[1]})`;
    }
    const number = String(index + 1).padStart(2, '0');
    show(page.steps[index], `interpolation_${number}_of_${String(count).padStart(2, '0')}`,
      `Interpolation step ${index + 1} of ${count}${where}.`);
  }

  // ------------------------------------------------------------ play, download
  function stopPlaying() {
    if (page.player && page.player.isPlaying()) {
      page.player.stop();
    }
    element('play').textContent = 'Play';
  }

  function togglePlay() {
    if (page.player && page.player.isPlaying()) {
      stopPlaying();
      return;
    }
    if (!page.player) {
      // Tone.js synthesizers: no sound files to fetch.
      page.player = new mm.Player(false, {
        run: (note) => page.visualizer && page.visualizer.redraw(note, true),
        stop: () => {
          element('play').textContent = 'Play';
        },
      });
    }
    element('play').textContent = 'Stop';
    page.player.start(page.shown).then(() => {
      element('play').textContent = 'Play';
    }).catch((error) => setStatus('error', `Could not play: ${error.message || error}`));
  }

  // magenta.js's decoders leave most notes at velocity 0, which a MIDI file
  // reads as note-offs: such notes get note-seq's default velocity.
  function withVelocities(sequence) {
    const copy = mm.sequences.clone(sequence);
    for (const note of copy.notes) {
      if (!note.velocity) {
        note.velocity = DEFAULT_VELOCITY;
      }
    }
    return copy;
  }

  function download() {
    const bytes = mm.sequenceProtoToMidi(withVelocities(page.shown));
    const url = URL.createObjectURL(new Blob([bytes], {type: 'audio/midi'}));
    const link = document.createElement('a');
    link.href = url;
    link.download = `${page.shownName}.mid`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ------------------------------------------------------------ wiring
  function wire() {
    const temperatureInput = element('temperature');
    temperatureInput.addEventListener('input', () => {
      element('temperature-value').textContent = temperatureInput.value;
    });
    element('sample').addEventListener('click', () => whileBusy('Sampling…', sample));
    element('interpolate').addEventListener('click', () => whileBusy('Interpolating…', interpolate));
    element('step').addEventListener('input', (event) => showStep(parseInt(event.target.value, 10)));
    element('play').addEventListener('click', togglePlay);
    element('download').addEventListener('click', download);
  }

  wire();
  whileBusy('Loading the model…', loadModel);
}());
